"""Fixtures of the bad-input tests: a tiny SegVGGT checkpoint (and broken variants), photos, a fake data root."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "inference"))

from inference_fixtures import lightning_checkpoint, load_backbone_config, make_tiny, write_photos  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """The tiny model runs in ~0.1 s on one thread, but for seconds when its threads fight other jobs."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def backbone_config() -> dict:
    return load_backbone_config()


@pytest.fixture(scope="session")
def tiny_ckpt(backbone_config, tmp_path_factory) -> Path:
    return lightning_checkpoint(make_tiny(backbone_config), backbone_config, tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


@pytest.fixture(scope="session")
def nan_ckpt(backbone_config, tmp_path_factory) -> Path:
    """A checkpoint with one NaN weight tensor (what a diverged run saves)."""
    import torch

    model = make_tiny(backbone_config)
    with torch.no_grad():
        model.vggt.depth_head.scratch.output_conv2[2].weight.fill_(float("nan"))
    return lightning_checkpoint(model, backbone_config, tmp_path_factory.mktemp("nan") / "nan.ckpt")


@pytest.fixture(scope="session")
def overflow_ckpt(backbone_config, tmp_path_factory) -> Path:
    """Finite weights whose depth output overflows to inf (only the output check can catch it)."""
    import torch

    model = make_tiny(backbone_config)
    with torch.no_grad():
        model.vggt.depth_head.scratch.output_conv2[2].weight.mul_(1e30)
    return lightning_checkpoint(model, backbone_config, tmp_path_factory.mktemp("big") / "overflow.ckpt")


@pytest.fixture()
def photos(tmp_path) -> Path:
    """tmp/room/photos/{a.png, b.jpg, c.jpg} (three small photos of one 'scene')."""
    folder = tmp_path / "room" / "photos"
    write_photos(folder)
    return folder


@pytest.fixture()
def infer(capsys):
    """Run tools/infer.py in-process: infer(*args) -> (exit status, stdout, stderr); --quiet --device cpu added."""
    from bad_input_helpers import call, tool

    main = tool("infer")

    def run(*args, device: str = "cpu"):
        return call(main, [*args, "--quiet", "--device", device], capsys)

    return run
