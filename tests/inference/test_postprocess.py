"""Known answers of the vectorised post-processing, resampling to the original size and input helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segvggt.backbone import ImageRecord
from segvggt.data.errors import DataError
from segvggt.inference import postprocess as pp
from segvggt.inference.errors import InferenceError
from segvggt.inference.inputs import clicks_to_network, list_images, output_names, parse_click_spec, select_frames
from segvggt.inference.resample import covered_mask, instance_ids_to_original, sample_to_original


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_winner_is_the_best_score_times_probability_above_threshold():
    # 2 instances (scores 0.9, 0.5) x 4 pixels
    probs = torch.tensor([[0.40, 0.90, 0.60, 0.10], [0.60, 0.95, 0.99, 0.20]])
    ids = pp.winner_ids(torch.logit(probs), torch.tensor([0.9, 0.5]), mask_threshold=0.5)
    # pixel 0: A is below the threshold -> B; 1: 0.81 > 0.475 -> A; 2: 0.54 > 0.495 -> A; 3: nobody above
    assert ids.tolist() == [2, 1, 1, 0]
    ids = pp.winner_ids(torch.logit(probs), torch.tensor([0.9, 0.5]), mask_threshold=0.95)
    assert ids.tolist() == [0, 0, 2, 0]  # only B at pixel 2 exceeds 0.95
    assert pp.winner_ids(torch.zeros(0, 3), torch.zeros(0), 0.5).tolist() == [0, 0, 0]


def test_scores_match_the_evaluation_protocol():
    from segvggt.evaluation.lifting import instance_scores

    torch.manual_seed(0)
    logits, masks = torch.randn(7, 5), torch.randn(7, 3, 4, 6) * 3
    labels, scores, top = pp.instance_scores(logits, masks)
    assert top.tolist() == masks.flatten(1).max(1).values.tolist()
    ref_labels, ref_scores = instance_scores(logits, masks)
    assert labels.tolist() == ref_labels.tolist()
    torch.testing.assert_close(scores, ref_scores)
    queries, kept_labels, kept = pp.select_instances(logits, masks, score_threshold=float(scores.median()))
    assert kept.tolist() == sorted(kept.tolist(), reverse=True) and len(kept) == 4
    assert (scores[queries] == kept).all() and (labels[queries] == kept_labels).all()


def test_assignment_at_mask_resolution_maps_to_network_pixels_and_drops_empty_instances():
    logits = torch.full((3, 1, 2, 2), -10.0)
    logits[0, 0, 0, :] = 10.0  # top row
    logits[2, 0, 1, :] = 10.0  # bottom row; instance 1 is empty
    masks = pp.assign_mask_pixels(logits, torch.tensor([0.9, 0.8, 0.7]), 0.5)
    assert masks[0].tolist() == [[1, 1], [3, 3]]
    queries, _, _ = pp.select_instances(torch.zeros(3, 2), logits, 0.0, mask_threshold=0.5)
    assert sorted(queries.tolist()) == [0, 2]  # query 1 has no pixel above the threshold
    ids = pp.mask_to_network(masks, (4, 4))  # network pixel (row, col) reads mask pixel (row // 2, col // 2)
    assert ids[0].tolist() == [[1] * 4, [1] * 4, [3] * 4, [3] * 4]
    renumbered, kept = pp.drop_empty_instances(ids, 3)
    assert kept.tolist() == [0, 2] and renumbered[0, 3].tolist() == [2] * 4
    odd = pp.mask_to_network(torch.arange(3, dtype=torch.int32).view(1, 1, 3), (1, 7))  # w / W = 3 / 7
    assert odd[0, 0].tolist() == [0, 0, 1, 1, 1, 2, 2]  # floor((2 col + 1) * 3 / 14)


def test_grouping_boxes_and_counts():
    points = torch.tensor([[0.0, 0, 0], [1, 2, 3], [5, 5, 5], [-1, 4, 0], [9, 9, 9]])
    ids = torch.tensor([1, 1, 0, 1, 3], dtype=torch.int32)
    (groups,) = pp.split_by_instance([points], ids, 3)
    assert [g.shape[0] for g in groups] == [3, 0, 1]
    assert groups[0].tolist() == [[0, 0, 0], [1, 2, 3], [-1, 4, 0]]
    counts, lo, hi = pp.instance_boxes(points, ids, 3)
    assert counts.tolist() == [3, 0, 1]
    assert lo[0].tolist() == [-1, 0, 0] and hi[0].tolist() == [1, 4, 3] and torch.isnan(lo[1]).all()
    view_ids = torch.tensor([[[1, 0], [2, 2]], [[0, 0], [0, 1]]], dtype=torch.int32)
    assert pp.pixel_counts(view_ids, 2).tolist() == [[1, 1], [2, 0]]
    conf = torch.arange(1.0, 11.0)
    assert pp.confidence_threshold(conf, 25) == 3.0 and pp.confidence_threshold(conf, 0) == float("-inf")


def test_world_points_follow_the_camera_convention():
    depth = torch.full((1, 2, 3), 2.0)
    K = torch.tensor([[[1.0, 0, 1], [0, 1.0, 0.5], [0, 0, 1]]])
    cam = torch.tensor([[[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, -1]]])  # camera centre at world z = +1
    pts = pp.world_points(depth, cam, K)
    # pixel (u=2, v=1): x = (2 - 1) * 2 = 2, y = (1 - 0.5) * 2 = 1, z_cam = 2 -> world z = 2 + 1
    assert pts[0, 1, 2].tolist() == [2.0, 1.0, 3.0]


def test_sampling_to_the_original_resolution():
    # 4x4 photo shown 2x smaller in a 2x2 network image: each network pixel covers 2x2 original pixels
    record = ImageRecord("p", (4, 4), (2, 2), (0, 0), (2, 2))
    values = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    out = sample_to_original(values, record)[0]
    # original column 1 -> network u = (1 + 0.5) / 2 - 0.5 = 0.25: 0.75 * 0 + 0.25 * 1
    assert out[0].tolist() == pytest.approx([0.0, 0.25, 0.75, 1.0])
    assert out[:, 0].tolist() == pytest.approx([0.0, 0.5, 1.5, 2.0])
    ids = instance_ids_to_original(torch.tensor([[[5.0, -5.0], [5.0, -5.0]]]), torch.tensor([1.0]), record, 0.5)
    assert ids[0].tolist() == [1, 1, 0, 0]


def test_crop_and_padding_are_not_reported_as_seen():
    # portrait 8 wide x 16 high, resized to 4 x 8, centre-cropped to 4 x 4 (offset -2 rows)
    crop = ImageRecord("p", (16, 8), (8, 4), (-2, 0), (4, 4))
    covered = covered_mask(crop)
    assert covered[:, 0].tolist() == [False] * 4 + [True] * 8 + [False] * 4
    out = sample_to_original(torch.ones(1, 4, 4), crop, fill=-1.0)[0]
    assert (out[covered] == 1).all() and (out[~covered] == -1).all()
    # landscape 4x2 padded into 4x4 (one row top and bottom): padding values never leak in
    pad = ImageRecord("q", (2, 4), (2, 4), (1, 0), (4, 4))
    values = torch.zeros(1, 4, 4)
    values[0, 1:3] = 7.0
    assert (sample_to_original(values, pad) == 7.0).all()


def test_clicks_map_through_the_record_and_bad_ones_are_named():
    record = ImageRecord("p", (40, 80), (20, 40), (3, 0), (26, 40))
    (f, u, v, pos), = clicks_to_network([(0, 10.0, 20.0, True)], [record], ["p"])
    assert (f, pos) == (0, True) and u == pytest.approx(10.5 * 0.5 - 0.5) and v == pytest.approx(20.5 * 0.5 - 0.5 + 3)
    with pytest.raises(InferenceError, match="frame 1 does not exist"):
        clicks_to_network([(1, 1.0, 1.0, True)], [record], ["p"])
    with pytest.raises(InferenceError, match="outside image 0"):
        clicks_to_network([(0, 1.0, 40.0, True)], [record], ["p"])
    crop = ImageRecord("c", (16, 8), (8, 4), (-2, 0), (4, 4))
    with pytest.raises(InferenceError, match="cropped away"):
        clicks_to_network([(0, 4.0, 1.0, True)], [crop], ["c"])
    assert parse_click_spec("0,1.5,2,+; 3,4,5,-") == [(0, 1.5, 2.0, True), (3, 4.0, 5.0, False)]
    with pytest.raises(InferenceError, match="integer"):
        parse_click_spec("a,1,2,+")


def test_folder_listing_frames_and_names(tmp_path):
    for name in ("b.jpg", "a.PNG", "notes.txt", ".hidden.jpg"):
        (tmp_path / name).write_bytes(b"x")
    images, ignored = list_images(tmp_path)
    assert [p.name for p in images] == ["a.PNG", "b.jpg"] and [p.name for p in ignored] == ["notes.txt"]
    with pytest.raises(DataError, match="not a folder"):
        list_images(tmp_path / "missing")
    paths = [tmp_path / f"{i:02d}.jpg" for i in range(10)]
    assert [p.stem for p in select_frames(paths, 4)] == ["00", "03", "06", "09"]
    assert output_names(["x/a.jpg", "y/a.png", "b.jpg"]) == ["a_jpg", "a_png", "b_jpg"]
    assert output_names(["x/a.jpg", "b.jpg"]) == ["a", "b"]
    assert np.array_equal(select_frames(paths, None), paths)


def test_factorised_mask_logits_equal_the_dense_ones_everywhere_they_are_read():
    from segvggt.inference.mask_logits import MaskLogits

    torch.manual_seed(0)
    embed, features = torch.randn(7, 4), torch.randn(5, 4, 3, 6)
    dense = torch.einsum("qd,sdhw->qshw", embed, features) * 3
    masks = MaskLogits(embed * 3, features)
    assert masks.shape == dense.shape and len(masks) == 7
    torch.testing.assert_close(masks.float(), dense)
    torch.testing.assert_close(masks[:, 2], dense[:, 2])
    torch.testing.assert_close(masks[torch.tensor([4, 1])][:, 1:3], dense[[4, 1]][:, 1:3])
    logits = torch.randn(7, 3)
    for a, b in zip(pp.instance_scores(logits, masks), pp.instance_scores(logits, dense)):
        torch.testing.assert_close(a, b)
    queries, _, scores = pp.select_instances(logits, masks, 0.0, 0.5)
    assert queries.tolist() == pp.select_instances(logits, dense, 0.0, 0.5)[0].tolist()
    assert torch.equal(pp.assign_mask_pixels(masks[queries], scores, 0.5), pp.assign_mask_pixels(dense[queries], scores, 0.5))


def test_point_cloud_to_host_keeps_raster_order_and_splits_by_instance():
    S, H, W = 2, 2, 3
    points = torch.arange(S * H * W * 3, dtype=torch.float32).view(S, H, W, 3)
    confidence = torch.arange(S * H * W, dtype=torch.float32).view(S, H, W) + 1
    images = torch.rand(S, 3, H, W)
    valid = torch.tensor([[[1, 1, 0], [1, 0, 1]], [[0, 1, 1], [1, 1, 1]]], dtype=torch.bool)
    ids = torch.tensor([[[2, 0, 1], [2, 1, 0]], [[1, 0, 0], [2, 0, 2]]], dtype=torch.int32)
    cloud = pp.point_cloud_to_host(points, confidence, images, valid, ids, 2)
    np.testing.assert_array_equal(cloud.points, points[valid].numpy())  # raster order, as before
    np.testing.assert_array_equal(cloud.instance_ids, ids[valid].numpy())
    assert cloud.views.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1] and cloud.views.dtype == np.int32
    np.testing.assert_array_equal(cloud.colors, (images.permute(0, 2, 3, 1)[valid] * 255).round().to(torch.uint8).numpy())
    flat_ids = ids[valid]
    for n in (1, 2):  # each instance's valid points, in raster order
        np.testing.assert_array_equal(cloud.instance_points[n - 1], points[valid][flat_ids == n].numpy())
        np.testing.assert_array_equal(cloud.instance_confidence[n - 1], confidence[valid][flat_ids == n].numpy())
    assert cloud.pixels_per_view.tolist() == [[2, 1], [2, 2]]  # all pixels, valid or not
    empty = pp.point_cloud_to_host(points, confidence, images, valid, torch.zeros_like(ids), 0)
    assert empty.instance_points == [] and empty.pixels_per_view.shape == (0, S)
