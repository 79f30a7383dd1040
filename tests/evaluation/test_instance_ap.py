"""Hand-computed answers of the official ScanNet instance AP (see PROTOCOL.md (a))."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segvggt.evaluation.instance_ap import (
    IOU_THRESHOLDS,
    SceneEval,
    curve_average_precision,
    evaluate_instances,
)

M = 1000
A = range(0, 200)  # GT 3001 (class 3)
B = range(200, 400)  # GT 4001 (class 4) or 3002
VOID = range(600, 1000)  # unannotated (id 0)


def scene(objects: dict[int, range], preds, excluded=None) -> SceneEval:
    gt = np.zeros(M, np.int64)
    for gid, idx in objects.items():
        gt[list(idx)] = gid
    masks = np.zeros((len(preds), M), bool)
    for k, (idx, _, _) in enumerate(preds):
        masks[k, list(idx)] = True
    labels = np.array([p[1] for p in preds], np.int64)
    scores = np.array([p[2] for p in preds], np.float64)
    return SceneEval(gt, masks, labels, scores, excluded=excluded)


def evaluate(objects, preds, classes=(3, 4), **kw):
    return evaluate_instances([scene(objects, preds)], list(classes), **kw)


def cls_row(result, class_id):
    return result.ap_table[result.class_ids.index(class_id)]


def test_thresholds_are_nine_plus_025():
    assert len(IOU_THRESHOLDS) == 10
    assert IOU_THRESHOLDS[0] == 0.5 and IOU_THRESHOLDS[-1] == 0.25
    assert IOU_THRESHOLDS[8] == pytest.approx(0.9) and not np.any(np.isclose(IOU_THRESHOLDS, 0.95))


def test_tp_then_lower_fp_is_1():
    # FP: class-3 prediction on the class-4 object (other-class overlap is never ignorable)
    r = evaluate({3001: A, 4001: B}, [(A, 3, 0.9), (B, 3, 0.5)])
    np.testing.assert_allclose(cls_row(r, 3), 1.0)
    np.testing.assert_allclose(cls_row(r, 4), 0.0)  # wrong class = FP (class 3) + FN (class 4)


def test_fp_above_tp_is_quarter_not_envelope_half():
    r = evaluate({3001: A, 4001: B}, [(B, 3, 0.9), (A, 3, 0.5)])
    np.testing.assert_allclose(cls_row(r, 3), 0.25)


def test_one_tp_one_missed_gt_is_half():
    r = evaluate({3001: A, 3002: B}, [(A, 3, 0.9)], classes=(3,))
    np.testing.assert_allclose(r.ap_table, 0.5)
    assert r.ap == r.ap50 == r.ap25 == 0.5


def test_curve_function_known_values():
    assert curve_average_precision(np.array([0.9, 0.5]), np.array([True, False]), 0) == 1.0
    assert curve_average_precision(np.array([0.9, 0.5]), np.array([False, True]), 0) == 0.25
    assert curve_average_precision(np.array([0.9]), np.array([True]), 1) == 0.5
    assert curve_average_precision(np.zeros(0), np.zeros(0, bool), 2) == 0.0  # PR#26 guard
    # TP .9, TP .8, FP .8 -> points (r 1, p 2/3), (r .5, p 1), (0, 1): 2/3*.25 + .5 + .25
    got = curve_average_precision(np.array([0.9, 0.8, 0.8]), np.array([True, True, False]), 0)
    assert got == pytest.approx(2 / 3 * 0.25 + 0.75, abs=1e-15)


def test_void_share_tolerance_depends_on_threshold():
    # 100-vertex prediction: 30 on void, 70 on the class-4 object -> ignored at 0.25 only
    fp = (list(VOID[:30]) + list(B[:70]), 3, 0.9)
    r = evaluate({3001: A, 4001: B}, [fp, (A, 3, 0.5)])
    row = cls_row(r, 3)
    assert row[-1] == 1.0  # AP25: 30 % void > 25 % -> ignored
    np.testing.assert_allclose(row[:9], 0.25)  # counted from 0.5 on: FP(0.9) above TP(0.5)


def test_iou_exactly_threshold_is_not_a_match():
    r = evaluate({3001: A}, [(A[:100], 3, 0.9)], classes=(3,))  # IoU = 100 / 200 = 0.5
    row = r.ap_table[0]
    assert row[0] == 0.0  # 0.5 is not > 0.5: one FP (not ignorable) + one FN
    assert row[-1] == 1.0


def test_duplicates_gt_keeps_max_score_lower_is_fp():
    # lower-scored duplicate first in line order: the GT still takes the max (0.9) as its TP score
    r = evaluate({3001: A, 4001: B}, [(A, 3, 0.5), (A[:190], 3, 0.9)])
    np.testing.assert_allclose(cls_row(r, 3), 1.0)
    # an extra non-duplicate FP at 0.7 sits between: TP .9, FP .7, FP .5 -> precision 1 at r=1 start
    r = evaluate({3001: A, 4001: B}, [(A, 3, 0.5), (A[:190], 3, 0.9), (B, 3, 0.7)])
    np.testing.assert_allclose(cls_row(r, 3), 1.0)


def test_small_gt_is_ignore_region_not_miss():
    small = range(400, 450)  # 50-vertex class-3 object
    pred_on_small = (list(small) + list(VOID[:60]), 3, 0.9)  # 110 vertices, IoU 50/110 with it
    r = evaluate({3001: A, 3002: small}, [pred_on_small, (A, 3, 0.5)], classes=(3,))
    np.testing.assert_allclose(r.ap_table, 1.0)  # small GT not FN, pred ignored (110/110 > t)
    # a class whose only GT is small has no GT: NaN, dropped from the mean
    r = evaluate({3001: A, 4002: small}, [(A, 3, 0.9)])
    assert np.isnan(cls_row(r, 4)).all() and r.ap == 1.0


def test_small_predictions_dropped_silently():
    tiny_fp = (B[:99], 3, 0.99)  # < 100 vertices: never a FP
    r = evaluate({3001: A, 4001: B}, [tiny_fp, (A, 3, 0.5)])
    np.testing.assert_allclose(cls_row(r, 3), 1.0)
    # a GT matched only by a 99-vertex prediction is a miss
    r = evaluate({3001: A[:99]}, [(A[:99], 3, 0.9), (B, 3, 0.1)], classes=(3,))
    assert np.isnan(r.ap_table).all()  # 99-vertex GT is small: no kept GT


def test_unevaluated_labels_dropped():
    r = evaluate({3001: A, 4001: B}, [(B, 1, 0.99), (B, 2, 0.99), (A, 3, 0.5)])
    np.testing.assert_allclose(cls_row(r, 3), 1.0)


def test_nan_class_dropped_from_mean():
    r = evaluate({3001: A, 4001: B}, [(A, 3, 0.9), (VOID[:150], 5, 0.9)], classes=(3, 4, 5))
    assert np.isnan(cls_row(r, 5)).all()
    assert r.per_class_ap.tolist()[:2] == [1.0, 0.0]
    assert r.ap == 0.5 and r.ap50 == 0.5 and r.ap25 == 0.5


def test_all_predictions_ignored_gives_zero_not_crash():
    # class 3 has GT and one kept prediction, which is ignored (all void) and matches nothing
    r = evaluate({3001: A}, [(VOID[:150], 3, 0.9)], classes=(3,))
    np.testing.assert_allclose(r.ap_table, 0.0)
    r = evaluate({3001: A}, [], classes=(3,))
    np.testing.assert_allclose(r.ap_table, 0.0)
    r = evaluate_instances([], [3, 4])
    assert np.isnan(r.ap_table).all() and math.isnan(r.ap)


def test_ap25_depends_on_line_order_ap_and_ap50_do_not():
    p = (range(0, 190), 3, 0.9)  # IoU .95 with A
    q = (range(120, 280), 3, 0.8)  # IoU 80/280 = .286 with A and with B
    objects = {3001: A, 3002: B}
    fwd = evaluate(objects, [p, q], classes=(3,))
    rev = evaluate(objects, [q, p], classes=(3,))
    # [p, q]: A takes p, q is A's further match (FP .8, not taken) and then B's TP
    assert fwd.ap25 == pytest.approx(2 / 3 * 0.25 + 0.75, abs=1e-15)
    # [q, p]: A takes q first, so q is taken and B is missed: TP .9, FP .8, FN
    assert rev.ap25 == pytest.approx(0.5, abs=1e-15)
    assert fwd.ap == rev.ap == 0.5 and fwd.ap50 == rev.ap50 == 0.5


def test_pooled_over_scenes_not_averaged():
    s1 = scene({3001: A}, [(A, 3, 0.9)])
    s2 = scene({3001: A, 4001: B}, [(B, 3, 0.95)])  # FP above everything, GT missed
    r = evaluate_instances([s1, s2], [3, 4])  # per-scene averaging would give (1 + 0) / 2
    # pooled: FP .95, TP .9, FN 1 -> points (r .5, p .5), (0, 0), (0, 1): .5 * .25
    np.testing.assert_allclose(cls_row(r, 3), 0.125)


def test_class_agnostic_relabels_but_keeps_void():
    objects = {3001: A, 4001: B}
    preds = [(A, 4, 0.9), (B, 3, 0.8), (VOID[:200], 1, 0.99)]
    assert evaluate(objects, preds).ap == 0.0
    r = evaluate(objects, preds, class_agnostic=True)
    assert r.class_names == ("object",) and r.ap == 1.0  # label-1 (wall) prediction still dropped


def test_grouped_small_gt_counts_twice_in_ignore_share():
    # class 0 evaluated (ScanNet++-style 0-based ids): id 5 is grouped (< 1000) AND small (50)
    grouped = range(400, 450)
    pred = (list(grouped) + list(B[:60]), 0, 0.9)  # ignore share 2*50/110 = .91 > every t
    r = evaluate({3001: A, 4001: B, 5: grouped}, [pred, (A, 3, 0.5)], classes=(0, 3, 4),
                 class_agnostic=True)  # fmt: skip
    np.testing.assert_allclose(r.ap_table, 0.5)  # TP A + missed B, the prediction is ignored


def test_excluded_vertices_removed_from_gt_and_masks():
    extra = VOID[:100]
    preds = [(list(A) + list(extra), 3, 0.9)]  # IoU 200/300 = .667
    gt_objects = {3001: A}
    plain = evaluate_instances([scene(gt_objects, preds)], [3])
    cut = evaluate_instances([scene(gt_objects, preds, excluded=np.array(list(extra)))], [3])
    assert plain.ap_table[0, 3] == 1.0 and plain.ap_table[0, 4] == 0.0  # 0.65 vs 0.70
    np.testing.assert_allclose(cut.ap_table, 1.0)


def test_mask_input_forms_agree():
    import scipy.sparse
    import torch

    s = scene({3001: A, 3002: B, 4001: range(400, 600)},
              [(A, 3, 0.9), (range(120, 280), 3, 0.8), (range(350, 640), 4, 0.3)])  # fmt: skip
    ref = evaluate_instances([s], [3, 4]).ap_table
    forms = [
        s.masks.astype(np.uint8), torch.from_numpy(s.masks), scipy.sparse.csr_matrix(s.masks),
    ]
    for masks in forms:
        other = SceneEval(s.gt_ids, masks, torch.from_numpy(s.labels), s.scores)
        np.testing.assert_array_equal(evaluate_instances([other], [3, 4]).ap_table, ref)


def test_bad_shapes_raise_clear_errors():
    s = scene({3001: A}, [(A, 3, 0.9)])
    with pytest.raises(ValueError, match="masks must be"):
        evaluate_instances([SceneEval(s.gt_ids[:10], s.masks, s.labels, s.scores)], [3])
    with pytest.raises(ValueError, match="labels"):
        evaluate_instances([SceneEval(s.gt_ids, s.masks, s.labels[:0], s.scores)], [3])
    with pytest.raises(ValueError, match="NaN"):
        evaluate_instances([SceneEval(s.gt_ids, s.masks, s.labels, np.array([np.nan]))], [3])


def test_scannet200_subsets_are_nanmean_of_classes():
    from segvggt.data.classes import benchmark_classes

    table = benchmark_classes("scannet200")
    head, tail = table.subsets[0][1], table.subsets[2][1]
    h = next(c for c in head if c in table.instance_ids)
    t = next(c for c in tail if c in table.instance_ids)
    gt = {h * 1000 + 1: A, t * 1000 + 1: B}
    r = evaluate(gt, [(A, h, 0.9)], classes=table.instance_ids)
    r = evaluate_instances([scene(gt, [(A, h, 0.9)])], table)
    subsets = r.subset_scores()
    assert subsets["head"]["ap"] == 1.0 and subsets["tail"]["ap"] == 0.0
    assert math.isnan(subsets["common"]["ap"]) and r.ap == 0.5


def test_vectorised_table_equals_single_curve_function():
    from segvggt.evaluation.instance_ap import SceneMatches, average_precision_table

    rng = np.random.default_rng(3)
    num_t, num_k, n = 10, 5, 400
    score = np.round(rng.random(n), 1)  # many ties
    score[:3] = [np.inf, -np.inf, -np.inf]
    m = SceneMatches(
        rng.integers(0, num_t, n), rng.integers(0, 4, n), score, rng.random(n) < 0.4,
        rng.integers(0, 3, (num_t, num_k)), np.array([1, 1, 1, 0, 1], bool), np.array([1, 1, 0, 1, 1], bool),
    )  # fmt: skip
    table = average_precision_table(m)
    for k in range(num_k):
        for t in range(num_t):
            rows = (m.threshold == t) & (m.cls == k)
            if m.has_gt[k] and m.has_pred[k]:
                want = curve_average_precision(m.score[rows], m.is_tp[rows], int(m.hard_fn[t, k]))
            else:
                want = 0.0 if m.has_gt[k] else np.nan
            np.testing.assert_allclose(table[k, t], want, rtol=0, atol=1e-12)
    assert np.isnan(table[3]).all() and (table[2] == 0).all() and (table[4] == 0).all()  # class 4: no entries
