"""Parity of the vectorised evaluator with the official-style reference on random scenes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_scannet_eval import random_scene, reference_evaluate  # noqa: E402

from segvggt.evaluation.instance_ap import SceneEval, _dense_counts, evaluate_instances  # noqa: E402


def _compare(scenes, class_ids, class_agnostic=False):
    ref, avg = reference_evaluate(scenes, class_ids, class_agnostic=class_agnostic)
    res = evaluate_instances(
        [SceneEval(*s[:4], excluded=s[4]) for s in scenes], class_ids, class_agnostic=class_agnostic
    )
    np.testing.assert_array_equal(np.isnan(res.ap_table), np.isnan(ref))
    np.testing.assert_allclose(res.ap_table, ref, rtol=0, atol=1e-9, equal_nan=True)
    got = [res.ap, res.ap50, res.ap25]
    want = [avg["all_ap"], avg["all_ap_50%"], avg["all_ap_25%"]]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, equal_nan=True)
    per_class = [v["ap"] for v in avg["classes"].values()]
    np.testing.assert_allclose(res.per_class_ap, per_class, rtol=0, atol=1e-9, equal_nan=True)
    return ref


@pytest.mark.parametrize("seed", range(4))
def test_random_scenes_match_reference(seed):
    rng = np.random.default_rng(seed)
    informative = 0
    for trial in range(20):
        class_ids = [3, 4, 5, 7] if trial % 3 else [0, 3, 5]  # class 0: grouped ids < 1000 exist
        scenes = [
            random_scene(rng, class_ids, with_excluded=trial % 4 == 0, tie_scores=trial % 2 == 0)
            for _ in range(int(rng.integers(1, 4)))
        ]
        ref = _compare(scenes, class_ids, class_agnostic=trial % 5 == 0)
        informative += bool(np.any((ref > 0) & (ref < 1)))
    assert informative >= 10  # the scenes really produce non-trivial curves


def test_many_classes_and_agnostic_match_reference():
    from segvggt.data.classes import benchmark_classes

    ids = list(benchmark_classes("scannet200").instance_ids)
    rng = np.random.default_rng(7)
    for trial in range(6):
        classes = list(rng.choice(ids, size=12, replace=False))
        scenes = [random_scene(rng, classes, num_gt=10, num_pred=18) for _ in range(3)]
        _compare(scenes, ids)
        _compare(scenes, ids, class_agnostic=True)


def test_reference_itself_gives_the_hand_computed_order_case():
    gt = np.zeros(1000, np.int64)
    gt[0:200], gt[200:400] = 3001, 3002
    p, q = np.zeros(1000, bool), np.zeros(1000, bool)
    p[0:190], q[120:280] = True, True
    fwd, _ = reference_evaluate([(gt, np.stack([p, q]), [3, 3], [0.9, 0.8])], [3])
    rev, _ = reference_evaluate([(gt, np.stack([q, p]), [3, 3], [0.8, 0.9])], [3])
    assert fwd[0, -1] == pytest.approx(2 / 3 * 0.25 + 0.75) and rev[0, -1] == pytest.approx(0.5)
    np.testing.assert_allclose(fwd[0, :9], 0.5)
    np.testing.assert_allclose(rev[0, :9], 0.5)


@pytest.mark.parametrize("num_cols", [1, 63, 64, 65, 1000, 4099])
def test_packed_counts_equal_plain_counting(num_cols):
    rng = np.random.default_rng(num_cols)
    masks = rng.random((7, num_cols)) < 0.1
    masks[3] = True
    masks[4] = False
    masks[5, : num_cols // 2] = True  # long runs: popcount path
    vertex_col = np.repeat(rng.integers(0, 5, 40), 1 + num_cols // 40)[:num_cols]  # blocky columns
    vertex_col[rng.random(num_cols) < 0.05] = 9  # and scattered ones
    row, col, count = _dense_counts(masks, vertex_col)
    got = np.zeros((7, 10), np.int64)
    np.add.at(got, (row, col), count)
    want = np.zeros((7, 10), np.int64)
    for i in range(7):
        want[i] = np.bincount(vertex_col[masks[i]], minlength=10)
    np.testing.assert_array_equal(got, want)
