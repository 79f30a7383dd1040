"""The Python API refuses what the tools refuse, with typed exceptions (InferenceError, DataError,
CheckpointError) carrying the same one-line messages; the Predictor's state is unchanged by a refusal."""

from __future__ import annotations

import pytest
import torch

from segvggt.backbone import CheckpointError
from segvggt.data.errors import DataError
from segvggt.inference.errors import InferenceError


@pytest.fixture(scope="module")
def predictor(tiny_ckpt):
    from segvggt.inference.predictor import Predictor

    return Predictor.from_checkpoint(tiny_ckpt, "cpu")


@pytest.fixture(scope="module")
def encoded(tiny_ckpt, tmp_path_factory):
    from inference_fixtures import write_photos

    from segvggt.inference.predictor import Predictor

    folder = tmp_path_factory.mktemp("api_photos")
    write_photos(folder)
    predictor = Predictor.from_checkpoint(tiny_ckpt, "cpu")
    predictor.set_images(sorted(folder.iterdir()))
    return predictor


def _tensor(S: int = 2, H: int = 56, W: int = 56) -> torch.Tensor:
    return torch.rand(S, 3, H, W, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    "images, message",
    [
        (_tensor() * 255, r"values lie in \[0\.0\d+, 254\.\d+\]; give RGB in \[0, 1\] \(0-255 images: divide by 255\)"),
        (_tensor().index_put_((torch.tensor([0]),), torch.tensor(float("nan"))), r"NaN or inf"),
        ((_tensor() * 255).to(torch.uint8), r"dtype torch.uint8; give floats in \[0, 1\]"),
        (_tensor(H=50), r"must be a multiple of 14"),
        (_tensor()[:, :2], r"must be \[S, 3, H, W\]"),
    ],
    ids=["0_255", "nan", "uint8", "not_patch_multiple", "two_channels"],
)
def test_set_images_refuses_tensors_outside_the_contract(predictor, images, message):
    with pytest.raises(InferenceError, match=message):
        predictor.set_images(images)
    assert predictor.num_views == 0  # refused before the backbone ran: no scene was set


def test_set_images_refuses_one_path_string(predictor, tmp_path):
    with pytest.raises(InferenceError, match="give a list of photo paths"):
        predictor.set_images(str(tmp_path))


def test_set_images_names_a_missing_photo(predictor, tmp_path):
    with pytest.raises(DataError, match=r"gone\.png: image file not found"):
        predictor.set_images([tmp_path / "gone.png", tmp_path / "gone2.png"])


@pytest.mark.parametrize(
    "clicks, message",
    [
        ([(0, 10.0, 10.0, "no")], r"positive must be True or False \(or 1 / 0\), got 'no'"),
        ([(0, 10.0, 10.0, 2)], r"positive must be True or False"),
        ([(0, 10.0, 10.0, False), (1, 5.0, 5.0, False)], r"has only negative clicks; add at least one positive click"),
        ([("0", 10.0, 10.0, True)], r"frame must be a whole number"),
        ([(0.5, 10.0, 10.0, True)], r"frame must be a whole number"),
        ([(0, "10", 10.0, True)], r"x must be a finite number of pixels"),
        ([(0, 10.0, float("inf"), True)], r"y must be a finite number of pixels"),
        ([(0, 10.0, 10.0)], r"a click is \(frame, x, y, positive\)"),
        ([], r"a prompt needs at least one click"),
        ([(9, 10.0, 10.0, True)], r"frame 9 does not exist"),
    ],
    ids=["positive_string", "positive_2", "negatives_only", "frame_string", "frame_half", "x_string", "y_inf",
         "three_fields", "empty", "frame_missing"],
)
def test_segment_refuses_bad_clicks(encoded, clicks, message):
    with pytest.raises(InferenceError, match=message):
        encoded.segment(clicks)


def test_numpy_clicks_are_accepted(encoded):
    import numpy as np

    answer = encoded.segment([(np.int64(0), np.float32(20.0), np.float64(15.0), np.bool_(True))])
    assert answer.pixels_per_view.shape == (3,)


def test_model_level_prompts_refuse_negative_only():
    from segvggt.segmentation.prompts import parse_prompts

    with pytest.raises(ValueError, match=r"scene 0, prompt 0 has only negative clicks"):
        parse_prompts([[[(0, 1.0, 1.0, False)]]], 1, 2, (28, 28), torch.device("cpu"))


def test_unknown_device_is_a_typed_error(tiny_ckpt):
    from segvggt.inference.predictor import Predictor

    with pytest.raises(InferenceError, match="unknown device 'tpu9'"):
        Predictor.from_checkpoint(tiny_ckpt, "tpu9")


def test_nan_checkpoint_is_a_typed_error(nan_ckpt):
    from segvggt.inference.checkpoints import load_model

    with pytest.raises(CheckpointError, match="hold NaN or inf values"):
        load_model(nan_ckpt)
