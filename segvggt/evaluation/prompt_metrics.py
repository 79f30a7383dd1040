"""Click-prompt evaluation: the MV-SAM protocol's clicks and objects, and per-prompt IoU metrics.

Protocol (MV-SAM, "Multi-view Promptable Segmentation using Pointmap Guidance", arXiv 2601.17866):
10 positive + 2 negative clicks sampled across the views, on objects covering at least 0.1 % of the
image, objects chosen at random per scene with a fixed seed. The click rule is shared with training
(`segvggt.losses.prompt_clicks.place_clicks`), so training and evaluation clicks have one distribution.

Metrics (one prompt = one GT object of one scene, its predicted mask on all S views):
- mIoU (MV-SAM): |pred & gt| / |pred | gt| with pixels pooled over ALL S views (1.0 when both are
  empty), averaged over prompts.
- mAcc (MV-SAM): fraction of all pixels of all views labelled correctly (in / out), averaged over
  prompts (the segmentation convention for "Acc"; dominated by background, so read it next to mIoU).
- 3AM ("3AM: 3egment Anything with Geometric Consistency in Videos", arXiv 2601.08831), from the
  per-frame IoU (1 when object and prediction are both empty in the frame, 0 when exactly one is):
  frame IoU ("IoU" in 3AM) = mean over all frames; Positive IoU = mean over the frames where the GT
  object is present; Successful IoU = mean over the frames where the GT is present AND the IoU is
  non-zero. Each is computed per prompt, then averaged over the prompts where it is defined.
- success rate (ours): fraction of prompts with pooled IoU >= 0.5.
Multi-view consistency (MastSAM) lives in `segvggt.evaluation.consistency`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from segvggt.data.errors import DataError
from segvggt.losses.prompt_clicks import MIN_AREA_FRACTION, eligible_instances, place_clicks

Click = tuple[int, float, float, bool]  # (frame, x, y, positive) in input pixels, the model's prompt format


def _generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded by a tuple of non-negative ints (stable across runs and platforms)."""
    seed = 0
    for k in keys:
        seed = (seed * 1_000_003 + int(k)) % (2**63 - 1)
    return torch.Generator().manual_seed(seed)


def seeded_clicks(
    instance_images: Tensor,
    instance_id: int,
    num_positive: int = 10,
    num_negative: int = 2,
    seed: int = 0,
    scene_key: int = 0,
    min_area_fraction: float = MIN_AREA_FRACTION,
) -> list[Click]:
    """The evaluation's clicks for one object: `place_clicks` with a generator seeded by
    (seed, scene_key, instance_id), so the same inputs always give the same clicks.

    Args:
        instance_images: [S, H, W] int instance id per pixel.
    Returns:
        list of (frame, x, y, positive), x = column, y = row (pixel centres at integers); positives first.
    """
    ids = torch.as_tensor(instance_images)
    if ids.ndim != 3:
        raise ValueError(f"seeded_clicks: instance_images must be [S, H, W], got {tuple(ids.shape)}")
    inside = (ids == int(instance_id)).cpu()
    if not bool(inside.any()):
        raise DataError(
            f"instance {instance_id} is not visible in any of the {ids.shape[0]} views; cannot place clicks"
        )
    generator = _generator(seed, scene_key, instance_id)
    return place_clicks(inside, num_positive, num_negative, generator, 0, min_area_fraction)


def prompt_objects(
    instance_images: Tensor,
    instance_ids: Tensor,
    count: int,
    seed: int = 0,
    scene_key: int = 0,
    min_area_fraction: float = MIN_AREA_FRACTION,
) -> list[int]:
    """Which objects of a scene are prompted: up to `count` of those covering >= min_area_fraction of
    some view, drawn at random with a generator seeded by (seed, scene_key); returns row indices into
    `instance_ids` [N] in drawn order."""
    ids = torch.as_tensor(instance_images)
    eligible = eligible_instances(ids, instance_ids, min_area_fraction).nonzero()[:, 0]
    order = torch.randperm(eligible.numel(), generator=_generator(seed, scene_key))
    return eligible[order][:count].tolist()


def _check_pair(pred: Tensor, gt: Tensor) -> tuple[Tensor, Tensor]:
    if pred.shape != gt.shape or pred.ndim != 4:
        raise ValueError(f"prompt metrics need [R, S, H, W] predicted and GT masks of equal shape, got "
                         f"{tuple(pred.shape)} and {tuple(gt.shape)}")  # fmt: skip
    return pred.bool(), gt.bool()


def prompt_iou(pred_masks: Tensor, gt_masks: Tensor) -> Tensor:
    """pred_masks, gt_masks: [R, S, H, W] bool -> [R] IoU, pixels pooled over all views (1.0 when both empty)."""
    pred, gt = _check_pair(pred_masks, gt_masks)
    inter = (pred & gt).flatten(1).sum(1).double()
    union = (pred | gt).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def per_frame_iou(pred_masks: Tensor, gt_masks: Tensor) -> Tensor:
    """[R, S, H, W] bool pair -> [R, S] IoU of each frame: 1 where both are empty, 0 where exactly one is."""
    pred, gt = _check_pair(pred_masks, gt_masks)
    inter = (pred & gt).flatten(2).sum(-1).double()
    union = (pred | gt).flatten(2).sum(-1).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def _masked_mean(values: Tensor, keep: Tensor) -> Tensor:
    """values, keep: [R, S] -> [R] mean over kept entries per row, NaN where a row keeps none."""
    n = keep.sum(1)
    total = (values * keep).sum(1)
    return torch.where(n > 0, total / n.clamp_min(1), torch.full_like(total, math.nan))


def frame_metrics(pred_masks: Tensor, gt_masks: Tensor) -> dict[str, Tensor]:
    """3AM's three IoUs per prompt: [R, S, H, W] bool pair -> {"frame_iou", "positive_iou",
    "successful_iou"}, each [R] float64 (NaN where the prompt has no qualifying frame)."""
    iou = per_frame_iou(pred_masks, gt_masks)
    present = gt_masks.bool().flatten(2).any(-1)
    return {
        "frame_iou": iou.mean(1),
        "positive_iou": _masked_mean(iou, present),
        "successful_iou": _masked_mean(iou, present & (iou > 0)),
    }


def pixel_accuracy(pred_masks: Tensor, gt_masks: Tensor) -> Tensor:
    """[R, S, H, W] bool pair -> [R] fraction of pixels (all views) labelled correctly."""
    pred, gt = _check_pair(pred_masks, gt_masks)
    return (pred == gt).flatten(1).double().mean(1)


PROMPT_KEYS = ("miou", "macc", "frame_iou", "positive_iou", "successful_iou", "success_rate")


def per_prompt_metrics(pred_masks: Tensor, gt_masks: Tensor, success_iou: float = 0.5) -> dict[str, Tensor]:
    """[R, S, H, W] bool pair -> {key: [R] float64} for every key of PROMPT_KEYS (NaN = undefined)."""
    iou = prompt_iou(pred_masks, gt_masks)
    return {
        "miou": iou,
        "macc": pixel_accuracy(pred_masks, gt_masks),
        **frame_metrics(pred_masks, gt_masks),
        "success_rate": (iou >= success_iou).double(),
    }


def prompt_metrics(pred_masks: Tensor, gt_masks: Tensor, success_iou: float = 0.5) -> dict[str, float]:
    """[R, S, H, W] bool pair -> {"miou", "macc", "frame_iou", "positive_iou", "successful_iou",
    "success_rate", "num_prompts"}: each the mean over the prompts where it is defined (module
    docstring), NaN if none."""
    per = per_prompt_metrics(pred_masks, gt_masks, success_iou)
    out: dict[str, float] = {}
    for key, values in per.items():
        finite = values[~values.isnan()]
        out[key] = float(finite.mean()) if finite.numel() else math.nan
    out["num_prompts"] = int(pred_masks.shape[0])
    return out
