"""Lifting multi-view 2D masks onto the benchmark points (the evaluation protocol).

Recipe (docs: /work/shared/benchmarks/PROTOCOL.md (f), OpenMask3D's visibility test):
1. Visibility: every benchmark point is projected into every evaluated view. It is visible in a
   view when it lands inside the image, is in front of the camera (z > 0), the view's depth at
   that pixel is valid (> 0) and |depth - z| <= max(depth_tolerance, relative_tolerance * z)
   (OpenMask3D: 0.2 m absolute). Pixel rounding: pixel centres sit at integer coordinates
   (segvggt.geometry), so a point goes to pixel (floor(u + 0.5), floor(v + 0.5)); it is inside
   when that pixel exists, i.e. -0.5 <= u < W - 0.5 and -0.5 <= v < H - 0.5.
2. Mask lookup: masks live at mask resolution (h, w) (H/2, W/2 for the model). The image pixel
   (row, col) reads the mask pixel that contains its centre: floor((row + 0.5) h / H),
   floor((col + 0.5) w / W) (for h = H/2 that is row // 2; same convention as
   `segvggt.geometry.scale_intrinsics`).
3. Vote: a point belongs to an instance when the mask is on (prob > mask_threshold) in more than
   `vote_threshold` of the views where the point is visible. Never-visible points are outside.
4. Superpoint vote: a superpoint joins the instance when more than `superpoint_threshold` of all
   its points are in, and then all its points are in (otherwise none is).
5. Scores: class probability x mean mask probability over the pixels where the mask is on
   (Mask2Former); one prediction per query ("per_query") or the top-k (query, class) pairs
   ("topk_pairs", Mask3D / OneFormer3D), see `segvggt.evaluation.ranking`. Predictions are sorted
   by descending score, the order the submission lists them.

Geometry used by the benchmark evaluation: mode "gt" (the default, `EvalConfig.geometry`) lifts
with the ground-truth cameras and the sensor depth of the prepared scene; the benchmark points
live in that frame and this isolates segmentation quality (ODIN / OpenMask3D do the same). Mode
"predicted" uses the network's cameras and depth after one Sim(3) alignment of the predicted
camera centres to the GT centres (`align_predicted_cameras`), for the feed-forward ablation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
from torch import Tensor

from segvggt.data.classes import BenchmarkClasses
from segvggt.evaluation.alignment import align_predicted_cameras
from segvggt.evaluation.ranking import mask_scores, rank_predictions
from segvggt.geometry import point_visibility  # re-exported: lifting's step 1

logger = logging.getLogger(__name__)

GEOMETRY_MODES = ("gt", "predicted")


@dataclass(frozen=True)
class LiftConfig:
    depth_tolerance: float = 0.2  # metres (OpenMask3D)
    relative_tolerance: float = 0.0  # fraction of the point's depth; the looser of the two applies
    mask_threshold: float = 0.5  # a 2D mask is on where its probability exceeds this
    vote_threshold: float = 0.5  # fraction of visible views that must be on
    superpoint_threshold: float = 0.5  # fraction of a superpoint's points that must be in
    top_k: int = 100  # predictions kept per scene, best first (queries or (query, class) pairs; 0 = Q)
    min_score: float = 0.0
    min_points: int = 1  # lifted masks with fewer points are dropped (the evaluator ignores < 100)
    frames_chunk: int = 8  # views projected at once
    ranking: str = "per_query"  # "per_query" | "topk_pairs" (segvggt.evaluation.ranking)


@dataclass(frozen=True)
class LiftedInstances:
    """One scene's 3D instances, ready for `submission.write_submission`, best first."""

    masks: np.ndarray  # [I, M] bool
    labels: np.ndarray  # [I] int64 benchmark label ids
    scores: np.ndarray  # [I] float32 in [0, 1]
    source_index: np.ndarray  # [I] int64 query index (predictions) or instance id (ground truth)


def _as_tensor(x, device, dtype=None) -> Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x, device=device, dtype=dtype)


def image_to_mask_pixel(
    pixel_index: Tensor, image_size: tuple[int, int], mask_size: tuple[int, int]
) -> Tensor:
    """Flat pixel indices [...] at image size (H, W) -> flat indices at (h, w) of the mask pixel
    containing each pixel's centre."""
    (H, W), (h, w) = image_size, mask_size
    if (H, W) == (h, w):
        return pixel_index
    row, col = pixel_index // W, pixel_index % W
    # floor((row + 0.5) * h / H) in exact integer arithmetic
    return ((2 * row + 1) * h // (2 * H)) * w + (2 * col + 1) * w // (2 * W)


def superpoint_vote(point_masks: Tensor, superpoints: Tensor, threshold: float = 0.5) -> Tensor:
    """Majority vote inside superpoints.

    Args:
        point_masks: [I, M] bool.
        superpoints: [M] int superpoint id per point (any ids).
    Returns:
        [I, M] bool: a superpoint is in when more than `threshold` of its points are, and then all are.
    """
    if superpoints.shape != point_masks.shape[-1:]:
        raise ValueError(
            f"superpoint_vote: {point_masks.shape[-1]} points but {tuple(superpoints.shape)} superpoint ids"
        )
    _, inverse = torch.unique(superpoints.to(point_masks.device), return_inverse=True)
    num = int(inverse.max()) + 1 if inverse.numel() else 0
    sizes = torch.bincount(inverse, minlength=num).to(torch.float32)  # [P]
    votes = torch.zeros(point_masks.shape[0], num, device=point_masks.device)
    votes.index_add_(1, inverse, point_masks.to(torch.float32))
    joined = votes > threshold * sizes
    return joined[:, inverse]


def _membership(
    on_counts: Tensor,
    seen_counts: Tensor,
    superpoints: Tensor | None,
    vote_threshold: float,
    superpoint_threshold: float,
) -> Tensor:
    """on_counts [I, M], seen_counts [M] -> [I, M] bool after the view vote and the superpoint vote."""
    member = (seen_counts > 0) & (on_counts > vote_threshold * seen_counts)
    if superpoints is not None:
        member = superpoint_vote(member, superpoints, superpoint_threshold)
    return member


def lift_masks(
    mask_probs: Tensor,
    visible: Tensor,
    pixel_index: Tensor,
    superpoints: Tensor | None,
    *,
    image_size: tuple[int, int],
    mask_threshold: float = 0.5,
    vote_threshold: float = 0.5,
    superpoint_threshold: float = 0.5,
    are_logits: bool = False,
    return_probs: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Lift per-view mask probabilities onto the points.

    Args:
        mask_probs: [I, S, h, w] probabilities in [0, 1] at mask resolution.
        visible: [S, M] bool; pixel_index: [S, M] flat pixel at `image_size` (from `point_visibility`).
        superpoints: [M] ids, or None to skip the superpoint vote.
        image_size: (H, W) of the depth maps that `pixel_index` refers to.
        are_logits: `mask_probs` holds logits (thresholded in logit space, no full sigmoid copy).
        return_probs: also average the probabilities (costs a float [M, I] accumulator).
    Returns:
        point_masks: [I, M] bool.
        point_probs: [I, M] mean mask probability over the views where the point is visible (0 if
            never), or None when `return_probs` is False.
    """
    I, S, h, w = mask_probs.shape
    if visible.shape != pixel_index.shape or visible.shape[0] != S:
        raise ValueError(
            f"lift_masks: masks cover {S} views but visibility is {tuple(visible.shape)} and pixel index "
            f"{tuple(pixel_index.shape)}"
        )
    M = visible.shape[1]
    device = mask_probs.device
    visible, pixel_index = visible.to(device), pixel_index.to(device)
    flat = mask_probs.reshape(I, S, h * w)
    threshold = mask_threshold
    if are_logits:  # p > t  <=>  logit(p) > logit(t)
        threshold = float(torch.logit(torch.tensor(mask_threshold, dtype=torch.float64)))
    # point-major accumulators: gathering whole rows of a [h*w, I] table is several times faster
    # than gathering columns of [I, h*w]; a point appears once per view, so plain indexed adds are exact
    on_counts = torch.zeros(M, I, dtype=torch.int32, device=device)
    prob_sum = torch.zeros(M, I, device=device) if return_probs else None
    for s in range(S):
        pts = visible[s].nonzero().squeeze(1)
        if pts.numel() == 0:
            continue
        pix = image_to_mask_pixel(pixel_index[s, pts], image_size, (h, w))
        view = flat[:, s]  # [I, h*w]
        if prob_sum is None:
            on_counts[pts] += (view > threshold).T.contiguous()[pix]
        else:
            values = view.T.contiguous()[pix].float()  # [V, I]
            on_counts[pts] += values > threshold
            prob_sum[pts] += values.sigmoid() if are_logits else values
    seen = visible.sum(0)
    sp = None if superpoints is None else _as_tensor(superpoints, device, torch.long)
    masks = _membership(on_counts.T, seen, sp, vote_threshold, superpoint_threshold)
    probs = None if prob_sum is None else (prob_sum / seen.clamp_min(1)[:, None]).T
    return masks, probs


def instance_scores(pred_logits: Tensor, pred_masks: Tensor) -> tuple[Tensor, Tensor]:
    """Mask2Former's instance score (the inference post-processing's, so both agree by construction).

    Args:
        pred_logits: [Q, K+1] class logits (last = no object).
        pred_masks: [Q, S, h, w] mask logits.
    Returns:
        labels: [Q] contiguous class index in [0, K) (argmax without "no object").
        scores: [Q] max class probability x mean sigmoid over the pixels where the logit > 0.
    """
    from segvggt.inference.postprocess import instance_scores as scores_and_peaks

    labels, scores, _ = scores_and_peaks(pred_logits, pred_masks)
    return labels, scores


def select_geometry(
    mode: str,
    gt_cam_from_world: Tensor,
    gt_depth: Tensor,
    pred_cam_from_world: Tensor | None = None,
    pred_depth: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Cameras [S, 3, 4] and depth [S, H, W] to lift with: "gt" = GT cameras + sensor depth,
    "predicted" = the prediction after `align_predicted_cameras`.

    In "predicted" mode pass the intrinsics that belong to the predicted depth to the lifting.
    """
    if mode == "gt":
        return gt_cam_from_world, gt_depth
    if mode == "predicted":
        if pred_cam_from_world is None or pred_depth is None:
            raise ValueError("geometry mode 'predicted' needs the predicted cameras and depth")
        cams, depth, _ = align_predicted_cameras(pred_cam_from_world, pred_depth, gt_cam_from_world, gt_depth)
        return cams, depth
    raise ValueError(f"unknown geometry mode {mode!r}; choose one of {', '.join(GEOMETRY_MODES)}")


def _empty(num_points: int) -> LiftedInstances:
    return LiftedInstances(
        np.zeros((0, num_points), dtype=bool),
        np.zeros(0, np.int64),
        np.zeros(0, np.float32),
        np.zeros(0, np.int64),
    )


def _finish(
    masks: Tensor, labels: np.ndarray, scores: Tensor, source: Tensor, min_points: int
) -> LiftedInstances:
    keep = (masks.sum(1) >= max(min_points, 1)).cpu().numpy()
    scores_np = scores.float().cpu().numpy()[keep]
    order = np.argsort(-scores_np, kind="stable")
    return LiftedInstances(
        masks.cpu().numpy()[keep][order],
        np.asarray(labels, dtype=np.int64)[keep][order],
        scores_np[order].astype(np.float32),
        source.cpu().numpy().astype(np.int64)[keep][order],
    )


def lift_predictions(
    pred_logits: Tensor,
    pred_masks: Tensor,
    cam_from_world: Tensor,
    intrinsics: Tensor,
    depth: Tensor,
    points,
    superpoints,
    classes: BenchmarkClasses,
    config: LiftConfig = LiftConfig(),
) -> LiftedInstances:
    """One scene's model output -> 3D instances on the benchmark points, ranked by `config.ranking`.

    Args:
        pred_logits: [Q, K+1] class logits; pred_masks: [Q, S, h, w] mask logits (one scene).
        cam_from_world: [S, 3, 4]; intrinsics: [S, 3, 3] at depth resolution; depth: [S, H, W]
            (see `select_geometry` for which geometry).
        points: [M, 3] benchmark points; superpoints: [M] ids or None.
        classes: the benchmark, maps class index -> label id.
    Returns:
        LiftedInstances sorted by descending score: at most `top_k` predictions with score >=
        `min_score` and at least `min_points` points.
    """
    return lift_ranked(
        pred_logits, pred_masks, cam_from_world, intrinsics, depth, points, superpoints, classes, config,
        rankings=(config.ranking,),
    )[config.ranking]  # fmt: skip


def lift_ranked(
    pred_logits: Tensor,
    pred_masks: Tensor,
    cam_from_world: Tensor,
    intrinsics: Tensor,
    depth: Tensor,
    points,
    superpoints,
    classes: BenchmarkClasses,
    config: LiftConfig = LiftConfig(),
    rankings: tuple[str, ...] = ("per_query",),
) -> dict[str, LiftedInstances]:
    """`lift_predictions` for several rankings at once: every query that any ranking keeps is lifted
    once and shared (a mask listed with several labels is the same lifted mask).

    Returns {ranking: LiftedInstances} (arguments as in `lift_predictions`).
    """
    Q, S = pred_masks.shape[:2]
    if pred_logits.shape != (Q, classes.num_classes + 1):
        raise ValueError(
            f"lift_predictions: pred_logits {tuple(pred_logits.shape)} do not fit {Q} queries x "
            f"({classes.num_classes} classes of benchmark {classes.name!r} + no object)"
        )
    if depth.shape[0] != S:
        raise ValueError(f"lift_predictions: {S} mask views but {depth.shape[0]} depth maps")
    device = pred_masks.device
    points_t = _as_tensor(points, device, torch.float32)
    quality = mask_scores(pred_masks)
    ranked = {}
    for ranking in rankings:
        queries, labels, scores = rank_predictions(pred_logits, quality, ranking, config.top_k)
        keep = scores >= config.min_score
        ranked[ranking] = (queries[keep], labels[keep], scores[keep])
    needed = torch.unique(torch.cat([q for q, _, _ in ranked.values()])) if ranked else torch.zeros(0)
    if needed.numel() == 0:
        return {r: _empty(points_t.shape[0]) for r in rankings}
    visible, pixel_index = point_visibility(
        points_t, _as_tensor(cam_from_world, device), _as_tensor(intrinsics, device),
        _as_tensor(depth, device),
        config.depth_tolerance, config.relative_tolerance, config.frames_chunk,
    )  # fmt: skip
    masks, _ = lift_masks(
        pred_masks[needed], visible, pixel_index, superpoints, are_logits=True,
        image_size=tuple(depth.shape[-2:]), mask_threshold=config.mask_threshold,
        vote_threshold=config.vote_threshold, superpoint_threshold=config.superpoint_threshold,
        return_probs=False,
    )  # fmt: skip
    row_of = torch.full((Q,), -1, dtype=torch.long, device=device)
    row_of[needed] = torch.arange(needed.numel(), device=device)
    out = {}
    for ranking, (queries, labels, scores) in ranked.items():
        label_ids = classes.label_of(labels.cpu().numpy())
        out[ranking] = _finish(masks[row_of[queries]], label_ids, scores, queries, config.min_points)
    return out


def lift_ground_truth_masks(
    instance_images: Tensor,
    instance_labels: Mapping[int, int],
    cam_from_world: Tensor,
    intrinsics: Tensor,
    depth: Tensor,
    points,
    superpoints,
    config: LiftConfig = LiftConfig(),
    label_ids: tuple[int, ...] | None = None,
) -> LiftedInstances:
    """ORACLE: lift the ground-truth 2D instance masks (score 1.0) -> the protocol's own ceiling.

    Args:
        instance_images: [S, h, w] int instance id per pixel (0 = none), any resolution.
        instance_labels: {instance id: benchmark label id}.
        cam_from_world, intrinsics, depth: as in `lift_predictions`.
        points: [M, 3]; superpoints: [M] ids or None.
        label_ids: keep only instances of these labels (e.g. `classes.instance_ids`); None = all.
    Returns:
        LiftedInstances, one per instance with at least `min_points` lifted points, in id order.
    """
    device = torch.device("cpu") if not isinstance(depth, Tensor) else depth.device
    ids_img = _as_tensor(instance_images, device, torch.long)
    depth_t = _as_tensor(depth, device)
    S, h, w = ids_img.shape
    if depth_t.shape[0] != S:
        raise ValueError(f"lift_ground_truth_masks: {S} instance images but {depth_t.shape[0]} depth maps")
    points_t = _as_tensor(points, device, torch.float32)
    M = points_t.shape[0]
    label_of = {int(i): int(lab) for i, lab in instance_labels.items()}  # scene.json keys may be strings
    wanted = sorted(i for i, lab in label_of.items() if i > 0 and (label_ids is None or lab in label_ids))
    if not wanted:
        return _empty(M)
    max_id = max(int(ids_img.max()), max(wanted))
    row_of = torch.full((max_id + 1,), -1, dtype=torch.long, device=device)
    row_of[torch.tensor(wanted, device=device)] = torch.arange(len(wanted), device=device)
    visible, pixel_index = point_visibility(
        points_t, _as_tensor(cam_from_world, device), _as_tensor(intrinsics, device), depth_t,
        config.depth_tolerance, config.relative_tolerance, config.frames_chunk,
    )  # fmt: skip
    on_counts = torch.zeros(len(wanted), M, device=device)
    flat_ids = ids_img.reshape(S, h * w)
    for s in range(S):
        pts = visible[s].nonzero().squeeze(1)
        pix = image_to_mask_pixel(pixel_index[s, pts], tuple(depth_t.shape[-2:]), (h, w))
        rows = row_of[flat_ids[s, pix].clamp_min(0)]
        hit = rows >= 0
        ones = torch.ones(int(hit.sum()), device=device)
        on_counts.index_put_((rows[hit], pts[hit]), ones, accumulate=True)
    seen = visible.sum(0).float()
    sp = None if superpoints is None else _as_tensor(superpoints, device, torch.long)
    masks = _membership(on_counts, seen, sp, config.vote_threshold, config.superpoint_threshold)
    labels = np.asarray([label_of[i] for i in wanted], dtype=np.int64)
    ids = torch.tensor(wanted, dtype=torch.long)
    return _finish(masks, labels, torch.ones(len(wanted)), ids, config.min_points)
