"""Predictor on a tiny random SegVGGT: prompt answers from the cache, cameras, maps at the original size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segvggt.backbone import pose_encoding_to_extri_intri
from segvggt.inference.checkpoints import LoadedModel
from segvggt.inference.errors import InferenceError
from segvggt.inference.predictor import Predictor

from inference_fixtures import IMAGE_SIZE


def predictor_for(model) -> Predictor:
    return Predictor(LoadedModel(model, "export", "synthetic", IMAGE_SIZE, "crop", "test"), "cpu")


def forbid_backbone(model, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("the backbone ran again")

    monkeypatch.setattr(model.vggt.aggregator, "forward", boom)
    monkeypatch.setattr(model.semantic_head, "forward", boom)


def test_segment_equals_single_pass_prompt_output_without_backbone(tiny_model, monkeypatch):
    torch.manual_seed(1)
    images = torch.rand(3, 3, 42, 56)
    predictor = predictor_for(tiny_model)
    predictor.set_images(images)
    clicks = [(0, 10.0, 20.0, True), (2, 40.5, 11.0, False)]
    with torch.no_grad():
        reference = tiny_model(images[None], [[clicks]])
    forbid_backbone(tiny_model, monkeypatch)
    answer = predictor.segment(clicks)  # tensor input: original pixels = network pixels
    torch.testing.assert_close(answer.mask_logits, reference["prompt_masks"][0, 0], rtol=1e-5, atol=1e-5)
    assert answer.score == pytest.approx(float(reference["prompt_scores"][0, 0].sigmoid()), abs=1e-6)
    # two prompts at once answer each as if alone
    both = predictor.segment_prompts([clicks, [(1, 5.0, 5.0, True)]])
    torch.testing.assert_close(both[0].mask_logits, answer.mask_logits, rtol=1e-5, atol=1e-5)


def test_clicks_on_photos_are_mapped_to_network_pixels(tiny_model, photos):
    folder, sizes = photos
    predictor = predictor_for(tiny_model)
    predictor.set_images(sorted(folder.iterdir()))
    # a.png 80x60 -> 56x42 (u' + 0.5 = (u + 0.5) * 56 / 80), then padded by 7 rows to the 56x56 of the
    # centre-cropped portrait c.jpg
    answer = predictor.segment([(0, 39.5, 29.5, True)])
    frame, u, v, positive = answer.network_clicks[0]
    assert (frame, positive) == (0, True)
    assert u == pytest.approx(40 * 56 / 80 - 0.5) and v == pytest.approx(30 * 56 / 80 - 0.5 + 7)
    x, records = predictor.preprocess(sorted(folder.iterdir()))[:2]
    with torch.no_grad():
        reference = tiny_model(x[None], [[answer.network_clicks]])
    torch.testing.assert_close(answer.mask_logits, reference["prompt_masks"][0, 0], rtol=1e-5, atol=1e-5)
    for view, name in enumerate(sorted(sizes)):
        assert answer.mask(view).shape == sizes[name]


def test_bad_clicks_name_the_problem(tiny_model, photos):
    folder, _ = photos
    predictor = predictor_for(tiny_model)
    predictor.set_images(sorted(folder.iterdir()))
    with pytest.raises(InferenceError, match="frame 3 does not exist"):
        predictor.segment([(3, 1.0, 1.0, True)])
    with pytest.raises(InferenceError, match=r"outside image 0 \(a, 80x60"):
        predictor.segment([(0, 80.0, 10.0, True)])
    with pytest.raises(InferenceError, match="outside image 2"):
        predictor.segment([(2, 10.0, -1.0, True)])


def test_cameras_and_maps_at_original_resolution(tiny_model, photos):
    folder, sizes = photos
    paths = sorted(folder.iterdir())
    predictor = predictor_for(tiny_model)
    predictor.set_images(paths)
    result = predictor.segment_all(score_threshold=0.0)
    x, records, _ = predictor.preprocess(paths)
    with torch.no_grad():
        out = tiny_model(x[None])
    extrinsics, intrinsics = pose_encoding_to_extri_intri(out["pose_enc"], tuple(x.shape[-2:]))
    np.testing.assert_allclose(result.cam_from_world, extrinsics[0].numpy(), atol=1e-5)
    for view, name in enumerate(sorted(sizes)):
        record = records[view]
        h, w = sizes[name]
        assert record.original_hw == (h, w)
        # intrinsics at the original size, scaled back, are the network intrinsics
        K = torch.from_numpy(result.intrinsics[view])
        sy, sx = record.scale_yx
        back = K.clone()
        back[0, 0], back[1, 1] = K[0, 0] * sx, K[1, 1] * sy
        back[0, 2] = (K[0, 2] + 0.5) * sx - 0.5 + record.offset_yx[1]
        back[1, 2] = (K[1, 2] + 0.5) * sy - 0.5 + record.offset_yx[0]
        torch.testing.assert_close(back, intrinsics[0, view], atol=1e-4, rtol=1e-5)
        depth, ids = result.depth(view), result.instance_map(view)
        assert depth.shape == (h, w) and ids.shape == (h, w) and result.confidence_map(view).shape == (h, w)
        assert ids.max() <= len(result.instances)
    assert result.instances, "score_threshold 0 keeps at least the best query"
    assert [i.id for i in result.instances] == list(range(1, len(result.instances) + 1))
    scores = [i.score for i in result.instances]
    assert scores == sorted(scores, reverse=True)
    # point cloud: one point per network content pixel with valid depth; instance points are a partition
    labelled = sum(len(i.points) for i in result.instances)
    assert labelled == int((result.instance_ids > 0).sum())
    assert result.points.shape == (len(result.instance_ids), 3) and result.colors.dtype == np.uint8


def test_geometry_only_vggt_says_so(tiny_model):
    predictor = Predictor(LoadedModel(tiny_model.vggt, "vggt", None, IMAGE_SIZE, "crop", "model.pt"), "cpu")
    predictor.set_images(torch.rand(2, 3, 42, 56))
    result = predictor.segment_all()
    assert result.instances == [] and not result.has_segmentation
    assert "geometry only" in result.message and (result.instance_ids == 0).all()
    assert result.instance_map(0).shape == (42, 56) and result.instance_map(0).max() == 0
    with pytest.raises(InferenceError, match="geometry only"):
        predictor.segment([(0, 1.0, 1.0, True)])


def test_one_image_is_rejected(tiny_model):
    from segvggt.data.errors import DataError

    with pytest.raises(DataError, match="at least 2"):
        predictor_for(tiny_model).set_images(torch.rand(1, 3, 42, 56))


def test_memory_estimate_suggests_max_frames(tiny_model, monkeypatch):
    from segvggt.inference import memory

    sizes = [memory.estimate_peak_bytes(tiny_model, s, 42, 56) for s in (2, 4, 8, 16)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    budget = memory.estimate_peak_bytes(tiny_model, 5, 42, 56)
    assert memory.max_frames_that_fit(tiny_model, 42, 56, budget) == 5
    monkeypatch.setattr(memory, "available_bytes", lambda device: budget)
    with pytest.raises(InferenceError, match="try --max-frames 5"):
        predictor_for(tiny_model).set_images(torch.rand(8, 3, 42, 56))
