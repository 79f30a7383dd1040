"""Fixtures of the web-app tests: the tiny SegVGGT (finite cameras, so every export is written) and photos."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
sys.path.insert(0, str(Path(__file__).parent))

from inference_fixtures import lightning_checkpoint, load_backbone_config, make_tiny, write_photos  # noqa: E402
from scene_fixtures import with_finite_cameras  # noqa: E402


def pytest_configure(config):
    # Gradio would otherwise try to send usage analytics (the test machine has no network)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session")
def app_checkpoint(tmp_path_factory) -> Path:
    config = load_backbone_config()
    return lightning_checkpoint(with_finite_cameras(make_tiny(config)), config, tmp_path_factory.mktemp("app") / "tiny.ckpt")


@pytest.fixture()
def app_photos(tmp_path) -> list[Path]:
    write_photos(tmp_path / "photos")
    return sorted((tmp_path / "photos").iterdir())


@pytest.fixture()
def session(app_checkpoint, tmp_path):
    """An AppSession whose predictor counts backbone runs in `session.backbone_runs`."""
    from segvggt.inference.app_session import AppSession
    from segvggt.inference.predictor import Predictor

    predictor = Predictor.from_checkpoint(app_checkpoint, "cpu")
    s = AppSession(predictor, tmp_path / "app", score_threshold=0.0)
    s.backbone_runs = 0

    def count(module, inputs, output):
        s.backbone_runs += 1

    predictor.model.vggt.aggregator.register_forward_hook(count)
    return s
