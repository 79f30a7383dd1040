"""torchmetrics wrapper of the ScanNet instance AP (the only torchmetrics import of evaluation/).

Each `update` matches its scenes right away (matching is per scene; only the PR curve pools
scenes), so the state is small: the pooled TP/FP list and per-class counts. The TP/FP list is a
flat float64 list state reduced with "cat" (rows of threshold index, class index, score, is-TP);
counts are summed. That syncs across DDP ranks like any torchmetrics state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torchmetrics import Metric

from segvggt.evaluation.instance_ap import (
    AGNOSTIC_ID,
    AGNOSTIC_NAME,
    IOU_THRESHOLDS,
    InstanceAPResult,
    SceneEval,
    SceneMatches,
    average_precision_table,
    evaluation_classes,
    match_scene,
    scene_overlaps,
)


class InstanceAP(Metric):
    """Official ScanNet / ScanNet200 / ScanNet++ instance AP, AP50, AP25 over all updated scenes.

    `compute()` returns {"ap", "ap50", "ap25"} as 0-dim float64 tensors (NaN if no class had GT);
    `result()` returns the full `InstanceAPResult` (per class, per threshold, subsets).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self, benchmark: str = "scannet", class_agnostic: bool = False, classes: Any = None, **kwargs: Any
    ) -> None:
        """`classes` (a BenchmarkClasses) overrides the evaluated classes of `benchmark`, e.g. the
        target classes a zero-shot label map reaches (`segvggt.data.label_maps`)."""
        super().__init__(**kwargs)
        from segvggt.data.classes import benchmark_classes

        classes = classes if classes is not None else benchmark_classes(benchmark)
        self.class_ids, self.class_names, self.subsets = evaluation_classes(classes)
        self.class_agnostic = class_agnostic
        num_k = 1 if class_agnostic else len(self.class_ids)
        num_t = len(IOU_THRESHOLDS)
        self.set_dtype(torch.float64)  # DDP's empty placeholder for list states takes this dtype
        self.add_state("entries", default=[], dist_reduce_fx="cat")
        self.add_state("hard_fn", default=torch.zeros(num_t, num_k, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("has_gt", default=torch.zeros(num_k, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("has_pred", default=torch.zeros(num_k, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("num_scenes", default=torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")
        self._last_result: InstanceAPResult | None = None

    def update(
        self, gt_ids: Any, masks: Any, labels: Any, scores: Any, excluded: Any = None
    ) -> None:
        """One scene: gt_ids [M] (label*1000+inst), masks [I, M] bool, labels [I] benchmark label
        ids, scores [I], excluded optional vertex indices; or lists of those, one per scene."""
        if isinstance(gt_ids, (list, tuple)):
            excluded = excluded if excluded is not None else [None] * len(gt_ids)
            for scene in zip(gt_ids, masks, labels, scores, excluded):
                self.update(*scene)
            return
        scene = SceneEval(gt_ids, masks, labels, scores, excluded=excluded)
        m = match_scene(scene_overlaps(scene, self.class_ids, class_agnostic=self.class_agnostic))
        rows = np.stack([m.threshold, m.cls, m.score, m.is_tp], axis=1).astype(np.float64)
        device = self.hard_fn.device
        self.entries.append(torch.from_numpy(rows.reshape(-1)).to(device))
        self.hard_fn += torch.from_numpy(m.hard_fn).to(device)
        self.has_gt += torch.from_numpy(m.has_gt.astype(np.int64)).to(device)
        self.has_pred += torch.from_numpy(m.has_pred.astype(np.int64)).to(device)
        self.num_scenes += 1

    def _pooled(self) -> SceneMatches:
        entries: Any = self.entries
        if isinstance(entries, Sequence):
            entries = torch.cat([e.reshape(-1) for e in entries]) if len(entries) else torch.zeros(0)
        rows = entries.detach().to("cpu", torch.float64).numpy().reshape(-1, 4)
        return SceneMatches(
            rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2].copy(), rows[:, 3] > 0.5,
            self.hard_fn.cpu().numpy(), self.has_gt.cpu().numpy() > 0, self.has_pred.cpu().numpy() > 0,
        )  # fmt: skip

    def compute(self) -> dict[str, torch.Tensor]:
        ids, names, subsets = self.class_ids, self.class_names, self.subsets
        if self.class_agnostic:
            ids, names, subsets = (AGNOSTIC_ID,), (AGNOSTIC_NAME,), ()
        result = InstanceAPResult(
            ids, names, average_precision_table(self._pooled()), subsets,
            int(self.num_scenes), self.class_agnostic,
        )  # fmt: skip
        self._last_result = result
        return {k: torch.tensor(getattr(result, k), dtype=torch.float64) for k in ("ap", "ap50", "ap25")}

    def result(self) -> InstanceAPResult:
        """Full result of the (synced) state: per class, per threshold, subsets."""
        self._computed = None  # recompute so the stored result matches the current state
        self.compute()
        assert self._last_result is not None
        return self._last_result
