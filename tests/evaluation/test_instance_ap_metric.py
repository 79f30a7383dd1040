"""torchmetrics InstanceAP: same numbers as the library, mergeable states (what DDP sync does)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_scannet_eval import random_scene  # noqa: E402

from segvggt.data.classes import benchmark_classes  # noqa: E402
from segvggt.evaluation.instance_ap import (  # noqa: E402
    SceneEval,
    average_precision_table,
    evaluate_instances,
)
from segvggt.evaluation.metric import InstanceAP  # noqa: E402

IDS = list(benchmark_classes("scannet").instance_ids)


def _scenes(seed, n=4):
    rng = np.random.default_rng(seed)
    return [random_scene(rng, IDS[:5]) for _ in range(n)]


def _update(metric, scenes):
    for gt, masks, labels, scores, _ in scenes:
        metric.update(torch.from_numpy(gt), torch.from_numpy(masks), torch.from_numpy(labels),
                      torch.from_numpy(scores))  # fmt: skip


def test_metric_equals_library_and_merges():
    scenes = _scenes(0)
    want = evaluate_instances([SceneEval(*s[:4]) for s in scenes], benchmark_classes("scannet"))
    single = InstanceAP("scannet")
    _update(single, scenes)
    out = single.compute()
    assert set(out) == {"ap", "ap50", "ap25"} and out["ap"].dtype == torch.float64
    np.testing.assert_allclose([out["ap"], out["ap50"], out["ap25"]], [want.ap, want.ap50, want.ap25])
    np.testing.assert_array_equal(single.result().ap_table, want.ap_table)

    a, b = InstanceAP("scannet"), InstanceAP("scannet")  # two "ranks"
    _update(a, scenes[:1])
    _update(b, scenes[1:])
    a.merge_state(b)
    np.testing.assert_array_equal(a.result().ap_table, want.ap_table)

    single.reset()
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert np.isnan(single.compute()["ap"].item())


def test_metric_sync_with_an_idle_rank():
    scenes = _scenes(2, n=2)
    want = evaluate_instances([SceneEval(*s[:4]) for s in scenes], IDS)
    busy, idle = InstanceAP("scannet"), InstanceAP("scannet")
    _update(busy, scenes)

    def gather_from_two_ranks(metric):
        other = iter([])

        def fn(x, group=None):  # rank 1 contributes its (empty / zero) state
            return [x, next(other)]

        states = [idle.entries or [torch.zeros(0, dtype=torch.float64)]]
        other = iter([torch.cat(states[0]), idle.hard_fn, idle.has_gt, idle.has_pred, idle.num_scenes])
        metric.sync(dist_sync_fn=fn, distributed_available=lambda: True)

    gather_from_two_ranks(busy)
    assert busy.num_scenes.item() == 2 and isinstance(busy.entries, torch.Tensor)
    np.testing.assert_array_equal(average_precision_table(busy._pooled()), want.ap_table)
    busy.unsync()


def test_metric_list_update_and_agnostic():
    scenes = _scenes(1, n=2)
    m = InstanceAP("scannet", class_agnostic=True)
    m.update(*[list(x) for x in zip(*[s[:4] for s in scenes])])
    want = evaluate_instances([SceneEval(*s[:4]) for s in scenes], IDS, class_agnostic=True)
    assert m.result().class_names == ("object",)
    np.testing.assert_array_equal(m.result().ap_table, want.ap_table)
