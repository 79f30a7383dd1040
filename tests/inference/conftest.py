"""Fixtures of the inference tests (helpers live in inference_fixtures.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from inference_fixtures import lightning_checkpoint, load_backbone_config, make_tiny, write_photos  # noqa: E402


@pytest.fixture(scope="session")
def backbone_config() -> dict:
    return load_backbone_config()


@pytest.fixture(scope="session")
def tiny_model(backbone_config):
    return make_tiny(backbone_config)


@pytest.fixture(scope="session")
def ckpt_path(tiny_model, backbone_config, tmp_path_factory) -> Path:
    return lightning_checkpoint(tiny_model, backbone_config, tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


@pytest.fixture()
def photos(tmp_path) -> tuple[Path, dict[str, tuple[int, int]]]:
    folder = tmp_path / "photos"
    sizes = write_photos(folder)
    return folder, sizes
