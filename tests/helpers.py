"""Helpers shared by tests (importable because pyproject puts tests/ on the test path)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO / "tools"


def tools_on_path() -> None:
    """The tools are scripts, not a package: tests import them by putting tools/ on sys.path."""
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))

FIXTURES = REPO / "tests" / "fixtures"


def model_from(fixture, **options):
    """The VGGT of a parity fixture with its weights loaded strictly, in eval mode."""
    from segvggt.backbone import build_vggt

    model = build_vggt(fixture["config"], **options)
    model.load_state_dict(fixture["state_dict"], strict=True)
    return model.eval()
