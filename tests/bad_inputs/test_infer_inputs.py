"""tools/infer.py inputs: photos, options, prompts and checkpoints. Each bad one: exit 2, one line, no output.

Checks that need no model run before the checkpoint is loaded; the checkpoint and network-output checks
name the checkpoint.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from bad_input_helpers import code_pickle, decompression_bomb_png, hidden_leftovers, one_error_line, snapshot


def _refused(infer, photos, ckpt, out, *extra, device="cpu"):
    code, _, err = infer("--images", photos, "--checkpoint", ckpt, "--out", out, *extra, device=device)
    assert code == 2, err
    assert not out.exists() and hidden_leftovers(out.parent) == []
    return err


@pytest.mark.parametrize(
    "extra, device, fragments",
    [
        ((), "tpu9", ["unknown device 'tpu9'; use cpu, cuda or cuda:N"]),
        ((), "cuda:99", ["device cuda:99", "cuda"]),  # no CUDA here, or far fewer than 100 GPUs
        (("--max-frames", "1"), "cpu", ["--max-frames 1: a scene needs at least 2 frames"]),
        (("--score-threshold", "nan"), "cpu", ["--score-threshold must lie in [0, 1], got nan"]),
        (("--conf-percentile", "inf"), "cpu", ["--conf-percentile must lie in [0, 100), got inf"]),
        (("--mask-threshold", "1"), "cpu", ["--mask-threshold must lie in (0, 1)"]),
        (("--prompt", "0,nan,5,+"), "cpu", ["x and y must be finite numbers"]),
        (("--prompt", "0,5,5,-;1,3,3,-"), "cpu", ["only negative clicks", "at least one positive click"]),
        (("--max-frames",), "cpu", ["argument --max-frames: expected one argument"]),
    ],
    ids=["device_tpu", "device_missing_gpu", "max_frames_1", "score_nan", "percentile_inf", "mask_threshold_1",
         "click_nan", "negative_only_prompt", "argparse"],
)
def test_bad_option_fails_before_the_model_loads(infer, photos, tiny_ckpt, tmp_path, monkeypatch, extra, device,
                                                 fragments):
    from segvggt.inference import predictor

    monkeypatch.setattr(predictor.Predictor, "from_checkpoint", lambda *a, **k: pytest.fail("model loaded"))
    one_error_line(_refused(infer, photos, tiny_ckpt, tmp_path / "out", *extra, device=device), *fragments)


def test_broken_symlink_photo_is_named_not_skipped(infer, photos, tiny_ckpt, tmp_path):
    (photos / "d.jpg").symlink_to(tmp_path / "deleted.jpg")
    one_error_line(_refused(infer, photos, tiny_ckpt, tmp_path / "out"), "d.jpg: a broken symbolic link")


def test_symlinked_photo_is_read_like_the_photo(photos, tiny_ckpt, tmp_path):
    from segvggt.inference.inputs import list_images

    (photos / "a.png").rename(tmp_path / "a.png")
    (photos / "a.png").symlink_to(tmp_path / "a.png")
    assert [p.name for p in list_images(photos)[0]] == ["a.png", "b.jpg", "c.jpg"]


def test_pipe_named_like_a_photo_is_refused_without_blocking(infer, photos, tiny_ckpt, tmp_path):
    os.mkfifo(photos / "d.jpg")
    one_error_line(_refused(infer, photos, tiny_ckpt, tmp_path / "out"), "d.jpg: not a regular file")


def test_folder_named_like_a_photo_is_refused(infer, photos, tiny_ckpt, tmp_path):
    (photos / "e.png").mkdir()
    one_error_line(_refused(infer, photos, tiny_ckpt, tmp_path / "out"), "e.png: not a regular file")


@pytest.mark.parametrize("size", [(1, 1), (2000, 3), (3, 2000)], ids=["1x1", "2000x3", "3x2000"])
def test_tiny_or_thin_photo_is_refused_the_same_way(infer, photos, tiny_ckpt, tmp_path, size):
    from PIL import Image

    Image.new("RGB", size, (90, 120, 200)).save(photos / "z.png")
    err = _refused(infer, photos, tiny_ckpt, tmp_path / "out")
    one_error_line(err, "z.png", f"{size[0]}x{size[1]} pixels is too small", "at least 14 pixels")


def test_decompression_bomb_names_the_file(infer, photos, tiny_ckpt, tmp_path):
    decompression_bomb_png(photos / "huge.png")
    one_error_line(_refused(infer, photos, tiny_ckpt, tmp_path / "out"), "huge.png: image is too large to decode safely")


def test_float_photo_outside_0_1_is_refused_naming_the_range(infer, photos, tiny_ckpt, tmp_path):
    from PIL import Image

    Image.fromarray(np.full((40, 50), 200.0, np.float32)).save(photos / "f.tif")
    one_error_line(_refused(infer, photos, tiny_ckpt, tmp_path / "out"), "f.tif: float image with values [200, 200]")


def test_nan_weights_name_the_checkpoint(infer, photos, nan_ckpt, tmp_path):
    err = _refused(infer, photos, nan_ckpt, tmp_path / "out")
    one_error_line(err, f"{nan_ckpt}: 1 weight tensor(s) hold NaN or inf values", "use an earlier or another checkpoint")


def test_non_finite_network_output_names_the_checkpoint(infer, photos, overflow_ckpt, tmp_path):
    err = _refused(infer, photos, overflow_ckpt, tmp_path / "out")
    one_error_line(err, f"{overflow_ckpt}: the network output holds NaN or inf values (depth")


@pytest.mark.parametrize("torch_format", [True, False], ids=["torch_save", "plain_pickle"])
def test_a_pickle_that_runs_code_is_refused_and_never_run(infer, photos, tmp_path, torch_format):
    marker = tmp_path / "code_ran"
    ckpt = code_pickle(tmp_path / "model.ckpt", marker, torch_format)
    line = one_error_line(_refused(infer, photos, ckpt, tmp_path / "out"), f"{ckpt}: ")
    assert not marker.exists()
    assert "weights_only` set to `False`" not in line and "weights_only=False" not in line and len(line) < 400
    assert ("asks to run Python code (posix.mkdir)" in line) if torch_format else ("cannot read checkpoint" in line)


def test_checkpoint_folder_is_named(infer, photos, tmp_path):
    (tmp_path / "run").mkdir()
    one_error_line(_refused(infer, photos, tmp_path / "run", tmp_path / "out"), "is a folder; give the checkpoint file")


def test_missing_required_argument_is_one_line(infer, tmp_path):
    code, _, err = infer("--checkpoint", tmp_path / "x.ckpt", "--out", tmp_path / "out")
    assert code == 2
    one_error_line(err, "one of the arguments --images --video is required", "--help")
    assert snapshot(tmp_path) == {}
