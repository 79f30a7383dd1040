"""Click-prompt evaluation: seeded clicks, per-prompt IoU metrics, multi-view mask consistency.

Definitions (one prompt = one GT instance of one scene, its predicted mask on all S views):
- IoU: |pred & gt| / |pred | gt| summed over ALL S views (1.0 when both are empty).
- Positive IoU: the same IoU restricted to the views where the GT instance is visible
  (predictions on views without the object are not counted).
- Pixel accuracy: fraction of all pixels of all views labelled correctly (in / out).
- mIoU = mean IoU over prompts; mAcc = mean pixel accuracy over prompts (the segmentation
  convention for "Acc"; dominated by background, so read it next to mIoU).
- Success rate = fraction of prompts with IoU >= 0.5 (the interactive-segmentation notion of a
  successful prompt); Successful IoU = mean IoU over those successful prompts (NaN if none).
- Multi-view consistency: for each ordered pair of views (i, j), i != j, every pixel of view i
  with valid depth is unprojected, projected into view j and kept where view j sees the same
  surface (depth test as in lifting). Score = fraction of those corresponding pixel pairs whose
  binary mask values agree. `foreground_only` restricts to pairs where either mask is on.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from segvggt.data.errors import DataError
from segvggt.evaluation.lifting import image_to_mask_pixel, point_visibility
from segvggt.geometry import depth_to_world_points

Click = tuple[int, float, float, bool]  # (frame, x, y, positive) in input pixels, the model's prompt format


def _interior(mask: Tensor) -> Tensor:
    """[H, W] bool -> pixels whose 4 neighbours are also in the mask (the mask itself if that is empty)."""
    m = mask.clone()
    m[1:] &= mask[:-1]
    m[:-1] &= mask[1:]
    m[:, 1:] &= mask[:, :-1]
    m[:, :-1] &= mask[:, 1:]
    m[0], m[-1], m[:, 0], m[:, -1] = False, False, False, False
    return m if m.any() else mask


def seeded_clicks(
    instance_images: Tensor, instance_id: int, num_positive: int = 10, num_negative: int = 2, seed: int = 0
) -> list[Click]:
    """Deterministic clicks for one instance, spread over the views where it is visible.

    Views where the instance is visible are ordered by visible area (largest first, ties by frame
    index); positives go to them round-robin, then negatives continue the round-robin. A
    positive is drawn uniformly from the instance's interior pixels in that view (its pixels
    whose 4 neighbours are also in it, so clicks avoid ambiguous boundaries); a negative
    uniformly from the pixels outside the instance. The generator is seeded by (seed,
    instance_id), so the same inputs always give the same clicks.

    Args:
        instance_images: [S, H, W] int instance id per pixel.
    Returns:
        list of (frame, x, y, positive), x = column, y = row (pixel centres at integers);
        positives first.
    """
    ids = torch.as_tensor(instance_images)
    if ids.ndim != 3:
        raise ValueError(f"seeded_clicks: instance_images must be [S, H, W], got {tuple(ids.shape)}")
    inside = (ids == int(instance_id)).cpu()
    area = inside.flatten(1).sum(1)
    views = [int(s) for s in np.argsort(-area.numpy(), kind="stable") if area[s] > 0]
    if not views:
        raise DataError(
            f"instance {instance_id} is not visible in any of the {ids.shape[0]} views; cannot place clicks"
        )
    rng = np.random.default_rng([int(seed), int(instance_id)])
    clicks: list[Click] = []
    for k in range(num_positive + num_negative):
        s = views[k % len(views)]
        positive = k < num_positive
        region = _interior(inside[s]) if positive else ~inside[s]
        candidates = region.nonzero()  # [n, 2] (row, col)
        if candidates.shape[0] == 0:  # the instance fills the whole view: no negative there
            continue
        row, col = candidates[int(rng.integers(candidates.shape[0]))].tolist()
        clicks.append((s, float(col), float(row), positive))
    return clicks


def _check_pair(pred: Tensor, gt: Tensor) -> tuple[Tensor, Tensor]:
    if pred.shape != gt.shape or pred.ndim != 4:
        raise ValueError(f"prompt metrics need [R, S, H, W] predicted and GT masks of equal shape, got "
                         f"{tuple(pred.shape)} and {tuple(gt.shape)}")  # fmt: skip
    return pred.bool(), gt.bool()


def prompt_iou(pred_masks: Tensor, gt_masks: Tensor) -> Tensor:
    """pred_masks, gt_masks: [R, S, H, W] bool -> [R] IoU over all views (1.0 when both empty)."""
    pred, gt = _check_pair(pred_masks, gt_masks)
    inter = (pred & gt).flatten(1).sum(1).double()
    union = (pred | gt).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def positive_iou(pred_masks: Tensor, gt_masks: Tensor) -> Tensor:
    """[R, S, H, W] bool pair -> [R] IoU over only the views where the GT mask is non-empty."""
    pred, gt = _check_pair(pred_masks, gt_masks)
    shown = gt.flatten(2).any(-1)[..., None, None]  # [R, S, 1, 1]
    return prompt_iou(pred & shown, gt)


def pixel_accuracy(pred_masks: Tensor, gt_masks: Tensor) -> Tensor:
    """[R, S, H, W] bool pair -> [R] fraction of pixels (all views) labelled correctly."""
    pred, gt = _check_pair(pred_masks, gt_masks)
    return (pred == gt).flatten(1).double().mean(1)


def prompt_metrics(pred_masks: Tensor, gt_masks: Tensor, success_iou: float = 0.5) -> dict[str, float]:
    """[R, S, H, W] bool pair -> {"miou", "macc", "positive_iou", "success_rate", "successful_iou",
    "num_prompts"} (definitions in the module docstring)."""
    iou = prompt_iou(pred_masks, gt_masks)
    if iou.numel() == 0:
        keys = ("miou", "macc", "positive_iou", "success_rate", "successful_iou")
        return {**{k: math.nan for k in keys}, "num_prompts": 0}
    success = iou >= success_iou
    return {
        "miou": float(iou.mean()),
        "macc": float(pixel_accuracy(pred_masks, gt_masks).mean()),
        "positive_iou": float(positive_iou(pred_masks, gt_masks).mean()),
        "success_rate": float(success.double().mean()),
        "successful_iou": float(iou[success].mean()) if success.any() else math.nan,
        "num_prompts": int(iou.numel()),
    }


def multiview_consistency(
    masks: Tensor,
    depth: Tensor,
    cam_from_world: Tensor,
    intrinsics: Tensor,
    depth_tolerance: float = 0.05,
    stride: int = 1,
    foreground_only: bool = False,
) -> float:
    """Agreement of one object's masks across views at pixels that see the same 3D point.

    Args:
        masks: [S, h, w] bool (any resolution; depth pixels read the mask pixel containing them).
        depth: [S, H, W] metres, 0 = invalid; cam_from_world [S, 3, 4]; intrinsics [S, 3, 3] at (H, W).
        depth_tolerance: metres, how close view j's depth must be to the projected point.
        stride: use every stride-th pixel row and column of view i as sources (speed).
        foreground_only: count only pairs where at least one mask is on.
    Returns:
        fraction of corresponding pixel pairs (i -> j, i != j) whose mask values agree; NaN if none.
    """
    S, H, W = depth.shape
    if masks.shape[0] != S:
        raise ValueError(f"multiview_consistency: {masks.shape[0]} masks but {S} depth maps")
    h, w = masks.shape[-2:]
    flat_masks = masks.bool().reshape(S, h * w)
    world = depth_to_world_points(depth.float(), cam_from_world.float(), intrinsics.float())  # [S, H, W, 3]
    rows = torch.arange(0, H, stride, device=depth.device)
    cols = torch.arange(0, W, stride, device=depth.device)
    source_pixels = (rows[:, None] * W + cols[None, :]).reshape(-1)  # flat indices at (H, W)
    agree, total = 0, 0
    for i in range(S):
        valid = depth[i].reshape(-1)[source_pixels] > 0
        src = source_pixels[valid]
        if src.numel() == 0:
            continue
        points = world[i].reshape(-1, 3)[src]
        visible, pixel_index = point_visibility(points, cam_from_world, intrinsics, depth, depth_tolerance)
        visible[i] = False  # a view trivially agrees with itself
        source_values = flat_masks[i, image_to_mask_pixel(src, (H, W), (h, w))]  # [P]
        views, which = visible.nonzero(as_tuple=True)
        target_values = flat_masks[views, image_to_mask_pixel(pixel_index[views, which], (H, W), (h, w))]
        a, b = source_values[which], target_values
        if foreground_only:
            keep = a | b
            a, b = a[keep], b[keep]
        agree += int((a == b).sum())
        total += int(a.numel())
    return agree / total if total else math.nan
