"""MV-SAM protocol clicks and objects, MV-SAM mIoU / mAcc and 3AM's per-frame IoUs on hand-made cases."""

import math

import pytest
import torch

from segvggt.data.errors import DataError
from segvggt.evaluation.prompt_metrics import (
    frame_metrics,
    per_frame_iou,
    pixel_accuracy,
    prompt_iou,
    prompt_metrics,
    prompt_objects,
    seeded_clicks,
)


def _instance_images():
    ids = torch.zeros(3, 8, 8, dtype=torch.long)
    ids[0, 2:6, 2:6] = 5  # 16 pixels
    ids[2, 0:2, 6:8] = 5  # 4 pixels
    ids[1, :, :4] = 7  # another object; view 1 does not show instance 5
    return ids


def test_seeded_clicks_are_deterministic_spread_and_inside_outside():
    ids = _instance_images()
    clicks = seeded_clicks(ids, 5, num_positive=10, num_negative=2, seed=3)
    assert clicks == seeded_clicks(ids, 5, num_positive=10, num_negative=2, seed=3)
    assert any(clicks != seeded_clicks(ids, 5, num_positive=10, num_negative=2, seed=s) for s in range(4, 9))
    assert [c[3] for c in clicks] == [True] * 10 + [False] * 2
    # spread round-robin over the two views showing the instance: 5 positives and 1 negative each
    frames = [c[0] for c in clicks]
    assert sorted(frames[:10]) == [0] * 5 + [2] * 5 and sorted(frames[10:]) == [0, 2]
    for frame, x, y, positive in clicks:
        assert x == int(x) and y == int(y)
        assert (ids[frame, int(y), int(x)] == 5) == positive
    # positives in the 4x4 view avoid its boundary (interior = rows/cols 3..4): its 5 clicks use all 4
    # interior pixels once, then repeat one
    big = [(x, y) for f, x, y, p in clicks if p and f == 0]
    assert all(3 <= x <= 4 and 3 <= y <= 4 for x, y in big) and len(set(big)) == 4


def test_seeded_clicks_skip_views_below_a_tenth_of_a_percent():
    ids = torch.zeros(2, 40, 40, dtype=torch.long)  # 1600 pixels: 0.1 % = 1.6 pixels
    ids[0, 10:20, 10:20] = 3
    ids[1, 0, 0] = 3  # a single pixel: below 0.1 % of the view
    clicks = seeded_clicks(ids, 3, num_positive=4, num_negative=2, seed=0)
    assert {c[0] for c in clicks} == {0}


def test_seeded_clicks_of_an_invisible_instance_fail_clearly():
    with pytest.raises(DataError, match="instance 9 is not visible"):
        seeded_clicks(_instance_images(), 9)


def test_prompt_objects_are_random_eligible_and_seeded():
    ids = torch.zeros(2, 40, 40, dtype=torch.long)
    for k in range(1, 7):  # objects 1..6: 4 x 4 pixels each
        ids[0, 5 * k : 5 * k + 4, 0:4] = k
    ids[1, 0, 0] = 9  # one pixel: 1/1600 < 0.1 %
    candidates = torch.tensor([1, 2, 3, 4, 5, 6, 9])
    picks = [prompt_objects(ids, candidates, 3, seed=s) for s in range(6)]
    for rows in picks:
        assert len(rows) == 3 and len(set(rows)) == 3 and 6 not in rows  # row 6 = object 9, too small
    assert picks[0] == prompt_objects(ids, candidates, 3, seed=0)
    assert len({tuple(p) for p in picks}) > 1  # random, not the first three
    assert sorted(prompt_objects(ids, candidates, 10, seed=0)) == [0, 1, 2, 3, 4, 5]


def test_pooled_iou_per_frame_iou_and_accuracy():
    gt = torch.zeros(1, 2, 2, 4, dtype=torch.bool)
    gt[0, 0, 0, :2] = True  # 2 pixels, view 0 only
    pred = torch.zeros_like(gt)
    pred[0, 0, 0, 1:3] = True  # 1 hit, 1 miss in view 0
    pred[0, 1, 1, :] = True  # 4 pixels in view 1, where the object is not visible
    # pooled: inter 1, union 2 + 6 - 1 = 7; frame 0: 1/3; frame 1: GT empty, prediction not -> 0
    assert prompt_iou(pred, gt).item() == pytest.approx(1 / 7)
    assert per_frame_iou(pred, gt).tolist() == [[pytest.approx(1 / 3), 0.0]]
    assert pixel_accuracy(pred, gt).item() == pytest.approx((16 - 6) / 16)


def test_3am_ious_hand_computed():
    # one prompt, 4 frames of 1 x 4 pixels
    gt = torch.zeros(1, 4, 1, 4, dtype=torch.bool)
    pred = torch.zeros_like(gt)
    gt[0, 0, 0, :2] = True
    pred[0, 0, 0, :2] = True  # frame 0: IoU 1
    gt[0, 1, 0, :2] = True
    pred[0, 1, 0, 1:4] = True  # frame 1: inter 1, union 4 -> 1/4
    gt[0, 2, 0, :] = True  # frame 2: present, missed -> 0
    # frame 3: both empty -> 1
    m = frame_metrics(pred, gt)
    assert m["frame_iou"].item() == pytest.approx((1 + 0.25 + 0 + 1) / 4)
    assert m["positive_iou"].item() == pytest.approx((1 + 0.25 + 0) / 3)
    assert m["successful_iou"].item() == pytest.approx((1 + 0.25) / 2)
    # a prompt whose object is never found: successful IoU undefined, the others 0 where present
    none = frame_metrics(torch.zeros_like(gt), gt)
    assert math.isnan(none["successful_iou"].item()) and none["positive_iou"].item() == 0.0
    assert none["frame_iou"].item() == pytest.approx(0.25)  # only frame 3 (both empty) scores


def test_prompt_metrics_summary_averages_over_defined_prompts():
    gt = torch.zeros(3, 1, 2, 2, dtype=torch.bool)
    gt[:, 0, 0, 0] = True
    gt[:, 0, 0, 1] = True
    pred = gt.clone()  # prompt 0 perfect (IoU 1)
    pred[1, 0, 0, 1] = False  # prompt 1: IoU 1/2
    pred[2] = ~gt[2]  # prompt 2: IoU 0
    out = prompt_metrics(pred, gt)
    assert out["miou"] == pytest.approx(0.5)
    assert out["macc"] == pytest.approx((1 + 0.75 + 0) / 3)
    assert out["frame_iou"] == pytest.approx(0.5) and out["positive_iou"] == pytest.approx(0.5)
    assert out["successful_iou"] == pytest.approx(0.75)  # prompt 2 has no successful frame: left out
    assert out["success_rate"] == pytest.approx(2 / 3)
    assert out["num_prompts"] == 3
    assert math.isnan(prompt_metrics(~gt[2:], gt[2:])["successful_iou"])
