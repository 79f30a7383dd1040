"""ScanNet 3D instance-segmentation AP, faithful to the official `evaluate_semantic_instance.py`.

Same numbers as the official script (Python 3 line order, ScanNet PR#26 empty-array guard), with
the vertex work vectorised: one pass over the predicted masks gives every (prediction, GT instance)
intersection (`overlaps.scene_overlaps`; its names are importable from here too), and the
sequential greedy matching here only walks the short list of (GT, prediction) pairs whose IoU
exceeds the threshold. Rules reproduced exactly:

- IoU thresholds 0.50, 0.55, ..., 0.90 (nine; 0.95 is not included) and 0.25; IoU > t (strict).
- GT instance = a distinct non-zero id whose `id // 1000` is an evaluated class; it is matched
  only if `id >= 1000` and it has >= 100 vertices; smaller ones are "ignore" regions, not misses.
- Predictions with a non-evaluated label or < 100 vertices are dropped silently; the others count
  for "has prediction" even when later ignored.
- Void = vertices whose label is not an evaluated class. Intersections are recorded only with GT
  of the predicted class.
- Matching per threshold, pooled over scenes: GT in ascending id order, its overlapping predictions
  in file-line order, skipping predictions already taken (flag reset per threshold); the first
  match takes the prediction; further ones append a false positive with min(score) and the GT keeps
  max(score) without taking them. A prediction with IoU > t to no same-class GT is a false
  positive unless (void + same-class small/grouped GT overlap) / size > t.
- AP = dot(precision, convolve(recall_padded, [-.5, 0, .5])) over the distinct scores plus the
  artificial (recall 0, precision 1) point; GT but no prediction -> 0; no GT -> NaN.
- Per class: AP = mean over the nine thresholds; overall = nanmean over classes (x thresholds).

Class-agnostic mode (our definition; the official code has none): every GT object of an evaluated
class and every prediction with an evaluated label become one class "object"; void keeps its
definition (vertices whose label is not an evaluated class), GT keep their original ids and order.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from segvggt.evaluation.overlaps import (  # noqa: F401  (re-exported: public names of this module)
    MIN_REGION_SIZE,
    SceneEval,
    SceneOverlaps,
    _as_numpy,
    _dense_counts,
    scene_overlaps,
)

logger = logging.getLogger(__name__)

# np.arange, not literals: the strict `IoU > t` compares against these exact binary values.
IOU_THRESHOLDS = np.append(np.arange(0.5, 0.95, 0.05), 0.25)  # [T = 10]
AP_THRESHOLDS = slice(0, 9)  # 0.50 .. 0.90
INDEX_50 = 0
INDEX_25 = 9
AGNOSTIC_NAME = "object"
AGNOSTIC_ID = -1


@dataclass(frozen=True)
class SceneMatches:
    """Matching outcome of one or more scenes, everything AP needs (T thresholds, K classes).

    threshold: [E] int threshold index; cls: [E] class index; score: [E] float64; is_tp: [E] bool.
    hard_fn:   [T, K] unmatched kept GT per threshold and class.
    has_gt:    [K] bool, some kept GT; has_pred: [K] bool, some kept prediction.
    """

    threshold: np.ndarray
    cls: np.ndarray
    score: np.ndarray
    is_tp: np.ndarray
    hard_fn: np.ndarray
    has_gt: np.ndarray
    has_pred: np.ndarray

    @staticmethod
    def empty(num_classes: int, num_thresholds: int = len(IOU_THRESHOLDS)) -> SceneMatches:
        e = np.zeros(0, np.int64)
        return SceneMatches(
            e, e, np.zeros(0), np.zeros(0, bool), np.zeros((num_thresholds, num_classes), np.int64),
            np.zeros(num_classes, bool), np.zeros(num_classes, bool),
        )  # fmt: skip

    @staticmethod
    def concat(parts: Sequence[SceneMatches]) -> SceneMatches:
        """Pool scenes (the official evaluation pools, it does not average per scene)."""
        return SceneMatches(
            np.concatenate([p.threshold for p in parts]), np.concatenate([p.cls for p in parts]),
            np.concatenate([p.score for p in parts]), np.concatenate([p.is_tp for p in parts]),
            np.sum([p.hard_fn for p in parts], axis=0),
            np.any([p.has_gt for p in parts], axis=0), np.any([p.has_pred for p in parts], axis=0),
        )  # fmt: skip


@dataclass(frozen=True)
class InstanceAPResult:
    """AP of one evaluation. `ap_table` [K, T] is AP per class and IoU threshold in
    `IOU_THRESHOLDS` order (NaN = class without GT in the evaluated scenes)."""

    class_ids: tuple[int, ...]
    class_names: tuple[str, ...]
    ap_table: np.ndarray
    subsets: tuple[tuple[str, tuple[int, ...]], ...] = ()
    num_scenes: int = 0
    class_agnostic: bool = False

    @cached_property
    def _class_ap(self) -> np.ndarray:
        # reports index this per class in a loop; the mean over [K, 9] is computed once
        return self.ap_table[:, AP_THRESHOLDS].mean(axis=1)

    @property
    def per_class_ap(self) -> np.ndarray:
        """[K] mean AP over IoU 0.50..0.90 (a fresh array each time, like the other properties)."""
        return self._class_ap.copy()

    @property
    def per_class_ap50(self) -> np.ndarray:
        return self.ap_table[:, INDEX_50].copy()

    @property
    def per_class_ap25(self) -> np.ndarray:
        return self.ap_table[:, INDEX_25].copy()

    @property
    def ap(self) -> float:
        return _nanmean(self.ap_table[:, AP_THRESHOLDS])

    @property
    def ap50(self) -> float:
        return _nanmean(self.ap_table[:, INDEX_50])

    @property
    def ap25(self) -> float:
        return _nanmean(self.ap_table[:, INDEX_25])

    def subset_scores(self) -> dict[str, dict[str, float]]:
        """{subset: {"ap", "ap50", "ap25"}}: nanmean of the per-class values over the subset's
        evaluated classes (ScanNet200 head/common/tail, as Mask3D)."""
        out = {}
        for name, ids in self.subsets:
            rows = np.flatnonzero(np.isin(self.class_ids, ids))
            out[name] = {
                "ap": _nanmean(self.per_class_ap[rows]),
                "ap50": _nanmean(self.per_class_ap50[rows]),
                "ap25": _nanmean(self.per_class_ap25[rows]),
            }
        return out


def _nanmean(x: np.ndarray) -> float:
    with warnings.catch_warnings():  # all-NaN -> NaN without "Mean of empty slice" noise
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return float(np.nanmean(x)) if np.size(x) else float("nan")


def match_scene(ov: SceneOverlaps, thresholds: np.ndarray = IOU_THRESHOLDS) -> SceneMatches:
    """Greedy matching of one scene at every IoU threshold (official order and tie rules)."""
    num_classes = ov.num_classes
    kept_gt = (ov.gt_id >= 1000) & (ov.gt_size >= ov.min_region_size)
    denom = ov.gt_size[ov.pair_gt] + ov.pred_size[ov.pair_pred] - ov.pair_inter
    iou = ov.pair_inter / denom  # float64, the official float(inter) / int
    ignore_share = ov.pred_ignore / ov.pred_size if len(ov.pred_size) else np.zeros(0)
    scores = ov.pred_score.tolist()
    gt_class = ov.gt_class.tolist()
    cand_base = kept_gt[ov.pair_gt]

    thr_parts, cls_parts, score_parts, tp_parts = [], [], [], []
    hard_fn = np.zeros((len(thresholds), num_classes), np.int64)
    for ti, t in enumerate(thresholds):
        over = iou > t
        cand = over & cand_base  # already sorted by (GT id, prediction line)
        visited = [False] * len(scores)
        best: dict[int, float] = {}
        fp_cls, fp_score = [], []
        for g, j in zip(ov.pair_gt[cand].tolist(), ov.pair_pred[cand].tolist()):
            if visited[j]:
                continue
            s = scores[j]
            if g in best:  # a further match: the lower score becomes a false positive
                b = best[g]
                fp_cls.append(gt_class[g])
                fp_score.append(min(b, s))
                best[g] = max(b, s)
            else:
                best[g] = s
                visited[j] = True
        matched = np.fromiter(best.keys(), np.int64, len(best))
        unmatched = kept_gt.copy()
        unmatched[matched] = False
        hard_fn[ti] = np.bincount(ov.gt_class[unmatched], minlength=num_classes)

        found_gt = np.zeros(len(scores), bool)
        found_gt[ov.pair_pred[over]] = True
        unmatched_fp = ~found_gt & (ignore_share <= t)

        n_tp, n_fp1, n_fp2 = len(matched), len(fp_cls), int(unmatched_fp.sum())
        thr_parts.append(np.full(n_tp + n_fp1 + n_fp2, ti, np.int64))
        cls_parts += [ov.gt_class[matched], np.asarray(fp_cls, np.int64), ov.pred_class[unmatched_fp]]
        score_parts += [
            np.fromiter(best.values(), np.float64, n_tp), np.asarray(fp_score, np.float64),
            ov.pred_score[unmatched_fp],
        ]  # fmt: skip
        tp_parts += [np.ones(n_tp, bool), np.zeros(n_fp1 + n_fp2, bool)]

    has_gt = np.bincount(ov.gt_class[kept_gt], minlength=num_classes) > 0
    has_pred = np.bincount(ov.pred_class, minlength=num_classes) > 0
    return SceneMatches(
        np.concatenate(thr_parts), np.concatenate(cls_parts).astype(np.int64),
        np.concatenate(score_parts).astype(np.float64), np.concatenate(tp_parts),
        hard_fn, has_gt, has_pred,
    )  # fmt: skip


def curve_average_precision(score: np.ndarray, is_tp: np.ndarray, hard_fn: int) -> float:
    """Official PR-curve area for one class and threshold.

    score: [E] float64, is_tp: [E] bool (pooled TP/FP list), hard_fn: unmatched GT count.
    For each distinct score s (ascending) the points above-or-at s are positives; the artificial
    last point is (recall 0, precision 1); area = dot(precision, convolve(recall padded with its
    first value and 0, [-.5, 0, .5])). Empty lists give 0 (ScanNet PR#26 guard).
    """
    order = np.argsort(score)
    y_score = score[order]
    cumsum = np.cumsum(is_tp[order].astype(np.float64))
    _, first = np.unique(y_score, return_index=True)
    num_true = cumsum[-1] if len(cumsum) else 0.0
    before = np.append(cumsum, 0.0)[first - 1]  # TP strictly below each distinct score
    tp = num_true - before
    fp = len(y_score) - first - tp
    fn = before + hard_fn
    precision = np.append(tp / (tp + fp), 1.0)
    recall = np.append(tp / (tp + fn), 0.0)
    padded = np.concatenate([recall[:1], recall, [0.0]])
    return float(np.dot(precision, np.convolve(padded, [-0.5, 0, 0.5], "valid")))


def average_precision_table(matches: SceneMatches) -> np.ndarray:
    """[K, T] AP per class and threshold from pooled matches (NaN where no GT).

    Every (threshold, class) curve of `curve_average_precision` at once: one sort by (curve,
    score), then the same precision/recall values and step widths per curve; only the final sum
    runs sequentially instead of BLAS's dot (differences of order 1e-16).
    """
    num_t, num_k = matches.hard_fn.shape
    table = np.full((num_k, num_t), np.nan)
    table[matches.has_gt & ~matches.has_pred] = 0.0
    valid = matches.has_gt & matches.has_pred
    curves = (np.arange(num_t)[:, None] * num_k + np.flatnonzero(valid)[None, :]).reshape(-1)
    if not len(curves):
        return table
    sel = valid[matches.cls]
    key, score = (matches.threshold * num_k + matches.cls)[sel], matches.score[sel]
    order = np.lexsort((score, key))
    key, score, y_true = key[order], score[order], matches.is_tp[sel][order].astype(np.float64)
    start = np.searchsorted(key, curves, "left")
    end = np.searchsorted(key, curves, "right")
    cumsum = np.concatenate([[0.0], np.cumsum(y_true)])  # cumsum[i] = TP among the first i
    # distinct scores of each curve, ascending: the official points before the artificial one
    is_first = np.ones(len(key), bool)
    is_first[1:] = (key[1:] != key[:-1]) | (score[1:] != score[:-1])
    first = np.flatnonzero(is_first)
    curve = np.searchsorted(curves, key[first])
    before = cumsum[first] - cumsum[start[curve]]  # TP strictly below the score
    tp = (cumsum[end] - cumsum[start])[curve] - before
    fp = (end[curve] - first) - tp
    fn = before + matches.hard_fn.reshape(-1)[curves[curve]]
    # points per curve: its distinct scores, then (recall 0, precision 1)
    num_points = np.bincount(curve, minlength=len(curves)) + 1
    offset = np.concatenate([[0], np.cumsum(num_points)])
    rank = np.arange(len(first)) - np.concatenate([[0], np.cumsum(num_points - 1)])[curve]
    precision, recall = np.ones(offset[-1]), np.zeros(offset[-1])
    precision[offset[curve] + rank] = tp / (tp + fp)
    recall[offset[curve] + rank] = tp / (tp + fn)
    prev_r = np.concatenate([recall[:1], recall[:-1]])
    prev_r[offset[:-1]] = recall[offset[:-1]]  # padding repeats the first recall
    next_r = np.concatenate([recall[1:], [0.0]])
    next_r[offset[1:] - 1] = 0.0  # and ends with 0
    steps = 0.5 * prev_r - 0.5 * next_r  # = convolve(padded, [-.5, 0, .5], "valid")
    curve_of_point = np.repeat(np.arange(len(curves)), num_points)
    ap = np.bincount(curve_of_point, weights=precision * steps, minlength=len(curves))
    table[curves % num_k, curves // num_k] = ap
    return table


def evaluation_classes(
    classes: Any,
) -> tuple[tuple[int, ...], tuple[str, ...], tuple[tuple[str, tuple[int, ...]], ...]]:
    """(class ids, names, subsets) from a BenchmarkClasses or a sequence of label ids."""
    if hasattr(classes, "instance_ids"):
        ids, names, subsets = classes.instance_ids, classes.instance_names, classes.subsets
    else:
        ids = tuple(int(c) for c in classes)
        names, subsets = tuple(f"class_{c}" for c in ids), ()
    if len(set(ids)) != len(ids) or not ids:
        raise ValueError(f"evaluated class ids must be distinct and non-empty, got {ids}")
    return tuple(int(c) for c in ids), tuple(names), tuple(subsets)


def evaluate_instances(
    scenes: Iterable[SceneEval],
    classes: Any,
    *,
    class_agnostic: bool = False,
    min_region_size: int = MIN_REGION_SIZE,
) -> InstanceAPResult:
    """ScanNet instance AP over `scenes` (any iterable: scenes are summarised one at a time,
    so a generator keeps only one scene's masks in memory).

    classes: `segvggt.data.classes.BenchmarkClasses` (uses instance_ids/names/subsets) or a
             sequence of evaluated label ids.
    """
    ids, names, subsets = evaluation_classes(classes)
    parts = [
        match_scene(scene_overlaps(s, ids, class_agnostic=class_agnostic, min_region_size=min_region_size))
        for s in scenes
    ]
    num_k = 1 if class_agnostic else len(ids)
    pooled = SceneMatches.concat(parts) if parts else SceneMatches.empty(num_k)
    if class_agnostic:
        ids, names, subsets = (AGNOSTIC_ID,), (AGNOSTIC_NAME,), ()
    return InstanceAPResult(
        ids, names, average_precision_table(pooled), subsets, len(parts), class_agnostic
    )
