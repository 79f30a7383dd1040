"""Vectorised post-processing of one scene's model output, on the model's device, chunked over frames.

Shapes: S views, H, W network pixels, h, w = H/2, W/2 mask pixels, Q queries, K classes, N kept instances,
M points. No Python loop runs over instances or pixels; loops run over chunks of frames only.

Instance assignment (one label per pixel): among the kept instances whose mask probability exceeds
`mask_threshold` at the pixel, the one with the largest score x mask probability wins; 0 = no instance.
It is decided at mask resolution (h x w, where the masks are predicted) for the point cloud, which takes
each network pixel's mask pixel; the maps at the original photo size apply the same rule to bilinearly
resampled logits (resample.py), so their borders are smooth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from segvggt.backbone import pose_encoding_to_extri_intri
from segvggt.geometry import depth_to_world_points

# Elements of the largest temporary (instances x frames x pixels) created at once.
CHUNK_ELEMENTS = 1 << 25


def cameras_from_pose_encoding(pose_enc: Tensor, image_size_hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """pose_enc [S, 9] -> (cam_from_world [S, 3, 4], intrinsics [S, 3, 3] in network pixels), float32."""
    extrinsics, intrinsics = pose_encoding_to_extri_intri(pose_enc.float()[None], image_size_hw)
    return extrinsics[0], intrinsics[0]


def instance_scores(pred_logits: Tensor, pred_masks: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mask2Former's score, vectorised over queries, plus each query's largest mask logit.

    pred_logits [Q, K+1], pred_masks [Q, S, h, w] logits -> (class index [Q] in [0, K), score [Q] in [0, 1],
    max logit [Q]) where score = max class probability (no object excluded) x mean sigmoid over the pixels
    whose logit > 0. Frames are visited in chunks so the temporaries stay at Q x chunk x h x w.
    """
    class_prob, labels = pred_logits.float().softmax(-1)[:, :-1].max(-1)
    Q, S = pred_masks.shape[:2]
    inside = torch.zeros(Q, device=pred_masks.device)
    count = torch.zeros(Q, device=pred_masks.device)
    top = torch.full((Q,), float("-inf"), device=pred_masks.device)
    for s0, s1 in frame_chunks(S, Q * pred_masks.shape[-2] * pred_masks.shape[-1]):
        logits = pred_masks[:, s0:s1].float().flatten(1)
        on = logits > 0
        inside += logits.sigmoid().mul_(on).sum(1)
        count += on.sum(1)
        top = torch.maximum(top, logits.max(1).values)
    return labels, class_prob * inside / (count + 1e-6), top


def select_instances(
    pred_logits: Tensor, pred_masks: Tensor, score_threshold: float, mask_threshold: float | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Queries whose score >= score_threshold, best first; with `mask_threshold`, also only queries with some
    mask pixel above it (bilinear upsampling never exceeds its input's maximum, so others own no pixel).

    pred_logits [Q, K+1], pred_masks [Q, S, h, w] -> (query index [N], class index [N], score [N]).
    """
    labels, scores, top = instance_scores(pred_logits, pred_masks)
    order = torch.argsort(scores, descending=True, stable=True)
    keep = scores[order] >= score_threshold
    if mask_threshold is not None:
        keep &= top[order] > math.log(mask_threshold / (1.0 - mask_threshold))
    order = order[keep]
    return order, labels[order], scores[order]


def frame_chunks(num_frames: int, elements_per_frame: int, budget: int = CHUNK_ELEMENTS) -> list[tuple[int, int]]:
    """[(s0, s1), ...] covering range(num_frames) with at most `budget` elements per chunk (>= 1 frame)."""
    step = max(1, budget // max(1, elements_per_frame))
    return [(s, min(s + step, num_frames)) for s in range(0, num_frames, step)]


def winner_ids(mask_logits: Tensor, scores: Tensor, mask_threshold: float) -> Tensor:
    """The assignment rule on any pixel layout.

    mask_logits [N, ...] logits, scores [N] -> ids [...] int32 in [0, N]: 1 + index of the winning instance, 0 = none.
    """
    if mask_logits.shape[0] == 0:
        return torch.zeros(mask_logits.shape[1:], dtype=torch.int32, device=mask_logits.device)
    if not 0.0 < mask_threshold < 1.0:
        raise ValueError(f"mask_threshold must lie in (0, 1), got {mask_threshold}")
    logits = mask_logits.float()
    on = logits > math.log(mask_threshold / (1.0 - mask_threshold))
    weighted = logits.sigmoid_() if logits is not mask_logits else logits.sigmoid()
    weighted.mul_(scores.float().view(-1, *([1] * (logits.dim() - 1)))).masked_fill_(~on, -1.0)
    best, index = weighted.max(0)
    return (index.to(torch.int32) + 1).masked_fill_(best < 0, 0)


def assign_mask_pixels(mask_logits: Tensor, scores: Tensor, mask_threshold: float) -> Tensor:
    """mask_logits [N, S, h, w], scores [N] -> ids [S, h, w] int32 at mask resolution, a chunk of frames at a time."""
    N, S, h, w = mask_logits.shape
    out = torch.zeros(S, h, w, dtype=torch.int32, device=mask_logits.device)
    if N == 0:
        return out
    for s0, s1 in frame_chunks(S, N * h * w):
        out[s0:s1] = winner_ids(mask_logits[:, s0:s1], scores, mask_threshold)
    return out


def mask_to_network(ids: Tensor, image_size_hw: tuple[int, int]) -> Tensor:
    """ids [S, h, w] -> [S, H, W]: every network pixel takes the mask pixel that contains its centre
    (floor((row + 0.5) h / H), the project's pixel-centre convention; row // 2 for h = H / 2)."""
    S, h, w = ids.shape
    H, W = image_size_hw
    rows = ((2 * torch.arange(H, device=ids.device) + 1) * h) // (2 * H)
    cols = ((2 * torch.arange(W, device=ids.device) + 1) * w) // (2 * W)
    return ids[:, rows][:, :, cols]


def drop_empty_instances(ids: Tensor, num_instances: int) -> tuple[Tensor, Tensor]:
    """Renumber so that only instances owning at least one pixel remain.

    ids [...] int32 in [0, N] -> (renumbered ids [...], kept [N'] indices into the N instances, in order).
    """
    counts = torch.bincount(ids.flatten().long(), minlength=num_instances + 1)[1:]
    kept = torch.nonzero(counts > 0).squeeze(1)
    lut = torch.zeros(num_instances + 1, dtype=torch.int32, device=ids.device)
    lut[kept + 1] = torch.arange(1, kept.numel() + 1, dtype=torch.int32, device=ids.device)
    return lut[ids.long()], kept


def world_points(depth: Tensor, cam_from_world: Tensor, intrinsics: Tensor) -> Tensor:
    """depth [S, H, W], cam_from_world [S, 3, 4], intrinsics [S, 3, 3] -> world points [S, H, W, 3] float32,
    a chunk of frames at a time."""
    S, H, W = depth.shape
    out = torch.empty(S, H, W, 3, device=depth.device)
    for s0, s1 in frame_chunks(S, 8 * H * W):
        out[s0:s1] = depth_to_world_points(depth[s0:s1].float(), cam_from_world[s0:s1].float(), intrinsics[s0:s1].float())
    return out


def confidence_threshold(confidence: Tensor, percentile: float) -> float:
    """The value below which `percentile` % of confidence [M] lies (0 keeps everything)."""
    if percentile <= 0 or confidence.numel() == 0:
        return float("-inf")
    k = min(confidence.numel(), max(1, math.ceil(percentile / 100.0 * confidence.numel())))
    return float(torch.kthvalue(confidence.float().cpu(), k).values)


def instance_boxes(points: Tensor, ids: Tensor, num_instances: int) -> tuple[Tensor, Tensor, Tensor]:
    """points [M, 3], ids [M] in [0, N] -> (counts [N], box min [N, 3], box max [N, 3]); empty boxes are NaN."""
    index = ids.long().clamp(0, num_instances)
    counts = torch.bincount(index, minlength=num_instances + 1)[1:]
    expand = index[:, None].expand(-1, 3)
    lo = torch.full((num_instances + 1, 3), float("inf"), device=points.device)
    hi = torch.full((num_instances + 1, 3), float("-inf"), device=points.device)
    lo = lo.scatter_reduce(0, expand, points.float(), reduce="amin")[1:]
    hi = hi.scatter_reduce(0, expand, points.float(), reduce="amax")[1:]
    empty = (counts == 0)[:, None]
    nan = torch.full_like(lo, float("nan"))
    return counts, torch.where(empty, nan, lo), torch.where(empty, nan, hi)


def split_by_instance(values: list[Tensor], ids: Tensor, num_instances: int) -> list[list[Tensor]]:
    """values: tensors [M, ...]; ids [M] in [0, N] -> for each tensor, N parts: its rows of instance 1..N
    (one sort, one split)."""
    order = torch.argsort(ids.long(), stable=True)
    counts = torch.bincount(ids.long(), minlength=num_instances + 1).tolist()
    return [list(torch.split(v[order], counts)[1:]) for v in values]


def pixel_counts(ids: Tensor, num_instances: int) -> Tensor:
    """ids [S, ...] in [0, N] -> [N, S] number of pixels of each instance in each view."""
    S = ids.shape[0]
    flat = ids.reshape(S, -1).long() + (num_instances + 1) * torch.arange(S, device=ids.device)[:, None]
    counts = torch.bincount(flat.flatten(), minlength=S * (num_instances + 1)).view(S, num_instances + 1)
    return counts[:, 1:].T


@dataclass(frozen=True)
class HostPointCloud:
    """segment_all's point cloud on the host (numpy), M points = the valid network pixels in raster order.

    points [M, 3] float32, colors [M, 3] uint8, confidence [M] float32, instance_ids [M] int32, views [M]
    int32; instance_points / instance_confidence: N arrays (views into one buffer) of each instance's rows;
    pixels_per_view [N, S] int64.
    """

    points: np.ndarray
    colors: np.ndarray
    confidence: np.ndarray
    instance_ids: np.ndarray
    views: np.ndarray
    instance_points: list[np.ndarray]
    instance_confidence: list[np.ndarray]
    pixels_per_view: np.ndarray


def point_cloud_to_host(
    points: Tensor, confidence: Tensor, images: Tensor, valid: Tensor, ids: Tensor, num_instances: int
) -> HostPointCloud:
    """points [S, H, W, 3], confidence [S, H, W], images [S, 3, H, W] in [0, 1], valid [S, H, W] bool,
    ids [S, H, W] int32 in [0, N] -> HostPointCloud.

    On the device: one nonzero for the valid pixels, gathers, one stable sort by instance (so each instance's
    points are one contiguous slice, in raster order); then every array crosses to the host in one batch of
    asynchronous copies. No loop over instances or points.
    """
    from segvggt.inference.result import to_host

    S, H, W = valid.shape
    N = num_instances
    index = valid.flatten().nonzero().squeeze(1)  # [M]
    flat_points = points.reshape(-1, 3).index_select(0, index).float()
    flat_conf = confidence.flatten().index_select(0, index).float()
    flat_ids = ids.flatten().index_select(0, index).to(torch.int32)
    rgb = images.permute(0, 2, 3, 1).reshape(-1, 3).index_select(0, index)
    colors = (rgb * 255).round().clamp(0, 255).to(torch.uint8)
    views = torch.div(index, H * W, rounding_mode="floor").to(torch.int32)
    counts = torch.bincount(flat_ids.long(), minlength=N + 1)  # [N+1], background first
    order = torch.argsort(flat_ids, stable=True)
    order = order[int(counts[0]) :]  # the instances' points, instance by instance
    host = to_host([flat_points, colors, flat_conf, flat_ids, views, flat_points[order], flat_conf[order], counts,
                    pixel_counts(ids, N)])  # fmt: skip
    p, c, conf, i, v, inst_points, inst_conf, counts_np, pixels = host
    bounds = np.cumsum(counts_np[1:])[:-1]
    return HostPointCloud(p, c, conf, i, v, np.split(inst_points, bounds) if N else [],
                          np.split(inst_conf, bounds) if N else [], pixels)  # fmt: skip
