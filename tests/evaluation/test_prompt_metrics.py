"""Seeded clicks, per-prompt IoU metrics and multi-view mask consistency on hand-made cases."""

import math

import pytest
import torch

from segvggt.data.errors import DataError
from segvggt.evaluation.prompt_metrics import (
    multiview_consistency,
    pixel_accuracy,
    positive_iou,
    prompt_iou,
    prompt_metrics,
    seeded_clicks,
)


def _instance_images():
    ids = torch.zeros(3, 8, 8, dtype=torch.long)
    ids[0, 2:6, 2:6] = 5  # 16 pixels
    ids[2, 0:2, 6:8] = 5  # 4 pixels
    ids[1, :, :4] = 7  # another object; view 1 does not show instance 5
    return ids


def test_seeded_clicks_are_deterministic_and_inside_outside():
    ids = _instance_images()
    clicks = seeded_clicks(ids, 5, num_positive=10, num_negative=2, seed=3)
    assert clicks == seeded_clicks(ids, 5, num_positive=10, num_negative=2, seed=3)
    assert clicks != seeded_clicks(ids, 5, num_positive=10, num_negative=2, seed=4)
    assert [c[3] for c in clicks] == [True] * 10 + [False] * 2
    # round-robin over the views showing the instance, largest first: 0, 2, 0, 2, ...
    assert [c[0] for c in clicks] == [0, 2] * 6
    for frame, x, y, positive in clicks:
        assert x == int(x) and y == int(y)
        assert (ids[frame, int(y), int(x)] == 5) == positive
    # positives in the big view avoid its boundary (interior = rows/cols 3..4)
    assert all(3 <= x <= 4 and 3 <= y <= 4 for f, x, y, p in clicks if p and f == 0)


def test_seeded_clicks_of_an_invisible_instance_fail_clearly():
    with pytest.raises(DataError, match="instance 9 is not visible"):
        seeded_clicks(_instance_images(), 9)


def test_prompt_iou_over_all_frames_and_positive_iou():
    gt = torch.zeros(1, 2, 2, 4, dtype=torch.bool)
    gt[0, 0, 0, :2] = True  # 2 pixels, view 0 only
    pred = torch.zeros_like(gt)
    pred[0, 0, 0, 1:3] = True  # 1 hit, 1 miss in view 0
    pred[0, 1, 1, :] = True  # 4 pixels in view 1, where the object is not visible
    # all frames: inter 1, union 2 + 6 - 1 = 7; positive frames (view 0): inter 1, union 3
    assert prompt_iou(pred, gt).item() == pytest.approx(1 / 7)
    assert positive_iou(pred, gt).item() == pytest.approx(1 / 3)
    assert pixel_accuracy(pred, gt).item() == pytest.approx((16 - 6) / 16)


def test_prompt_metrics_summary():
    gt = torch.zeros(3, 1, 2, 2, dtype=torch.bool)
    gt[:, 0, 0, 0] = True
    gt[:, 0, 0, 1] = True
    pred = gt.clone()  # prompt 0 perfect (IoU 1)
    pred[1, 0, 0, 1] = False  # prompt 1: IoU 1/2
    pred[2] = ~gt[2]  # prompt 2: IoU 0
    out = prompt_metrics(pred, gt)
    assert out["miou"] == pytest.approx(0.5)
    assert out["macc"] == pytest.approx((1 + 0.75 + 0) / 3)
    assert out["success_rate"] == pytest.approx(2 / 3) and out["successful_iou"] == pytest.approx(0.75)
    assert out["num_prompts"] == 3
    assert math.isnan(prompt_metrics(~gt[2:], gt[2:])["successful_iou"])


def _stereo_plane():
    """Plane z = 2 seen by two cameras 0.4 m apart along x: view 0 pixel column u <-> view 1 column u - 2."""
    K = torch.tensor([[10.0, 0, 3.5], [0, 10.0, 1.5], [0, 0, 1]]).expand(2, 3, 3)
    identity = [[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    cams = torch.tensor([identity, [[1.0, 0, 0, -0.4], [0, 1, 0, 0], [0, 0, 1, 0]]])
    depth = torch.full((2, 4, 8), 2.0)
    return depth, cams, K


def test_consistency_of_identical_consistent_masks_is_one():
    depth, cams, K = _stereo_plane()
    masks = torch.zeros(2, 4, 8, dtype=torch.bool)
    masks[0, :, 4:6] = True  # the same stripe of the plane seen from both views
    masks[1, :, 2:4] = True
    assert multiview_consistency(masks, depth, cams, K) == 1.0
    assert multiview_consistency(masks, depth, cams, K, foreground_only=True) == 1.0


def test_consistency_of_a_flipped_view_is_the_hand_computed_fraction():
    depth, cams, K = _stereo_plane()
    masks = torch.zeros(2, 4, 8, dtype=torch.bool)
    masks[0, :, 4:6] = True  # view 1 misses the object entirely
    # pairs: view 0 columns 2..7 -> view 1 (24) and view 1 columns 0..5 -> view 0 (24) = 48;
    # disagreeing: the 8 stripe pixels in each direction = 16 -> 32 / 48 agree
    assert multiview_consistency(masks, depth, cams, K) == pytest.approx(32 / 48)
    assert multiview_consistency(masks, depth, cams, K, foreground_only=True) == 0.0
    # masks at half resolution read the mask pixel containing each depth pixel
    half = torch.zeros(2, 2, 4, dtype=torch.bool)
    half[0, :, 2] = True  # depth columns 4, 5
    assert multiview_consistency(half, depth, cams, K) == pytest.approx(32 / 48)
