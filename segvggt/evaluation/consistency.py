"""MastSAM's multi-view consistency of segmentation masks (its Eq. 4-6), on ground-truth geometry.

Every pixel p of every view carries a mask vector m_p in R^C:
- automatic instances: the one-hot vector of the instance id that owns the pixel (C = instances);
- prompts: the binary vector of the R prompt masks at the pixel (C = R, several may be on).
Pixels are lifted to 3D with the ground-truth depth and cameras. For a pixel p of view i, its
correspondences are all pixels q of the OTHER views j != i whose 3D points lie within epsilon of p's
(Euclidean distance, metres). Its consistency is the mean cosine similarity cos(m_p, m_q) over those q
(cos = 0 when m_q is all zero: the other view calls the surface background). The score is the mean
over every pixel p that has a non-zero mask vector and at least one correspondence: background
pixels (all-zero vectors) are excluded as sources, so agreeing background no longer dominates.
Pixels without valid depth (0) take no part. 1.0 = every labelled surface point carries the same
mask in every view that sees it.

Cost: correspondences are found with a voxel grid of cell epsilon (a pixel's neighbours lie in the
27 cells around its own), so the search is linear in the number of pixels. Targets are every depth
pixel (every `stride`-th row and column, the stride raised until at most `max_points` remain); the
mean over source pixels is estimated on at most `max_sources` labelled pixels taken evenly from
them (exact when nothing is skipped, as in the tests). Each depth pixel reads the mask pixel that
contains its centre (the lifting convention), so masks may be at lower resolution.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from segvggt.evaluation.lifting import image_to_mask_pixel
from segvggt.geometry import cam_to_world


def one_hot_vectors(ids: Tensor) -> Tensor:
    """ids [S, h, w] int (0 = no instance) -> [S, h, w, C] float one-hot over the C distinct non-zero ids."""
    values = torch.unique(ids)
    values = values[values != 0]
    return (ids[..., None] == values.to(ids.device)).float()


def _world_points(depth: Tensor, cam_from_world: Tensor, intrinsics: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """World points [S, len(rows) * len(cols), 3] of the pixels (rows x cols) of every view (pixel centres
    at integers, the project's convention)."""
    d = depth.float()[:, rows][:, :, cols].reshape(depth.shape[0], -1)  # [S, P0]
    v, u = torch.meshgrid(rows.float(), cols.float(), indexing="ij")
    K = intrinsics.float()
    x = (u.reshape(1, -1) - K[:, 0, 2:3]) / K[:, 0, 0:1] * d
    y = (v.reshape(1, -1) - K[:, 1, 2:3]) / K[:, 1, 1:2] * d
    return cam_to_world(torch.stack([x, y, d], -1), cam_from_world.float())


def _voxel_keys(cells: Tensor, low: Tensor, size: Tensor) -> Tensor:
    """Integer cells [N, 3] -> one int64 key each, within the box low .. low + size."""
    c = cells - low
    return (c[:, 0] * size[1] + c[:, 1]) * size[2] + c[:, 2]


def _neighbour_pairs(sources: Tensor, points: Tensor, epsilon: float) -> tuple[Tensor, Tensor]:
    """(source index, point index) of every pair with |points[i] - sources[s]| <= epsilon.

    sources [c, 3], points [P, 3]: a voxel grid of cell epsilon; each source visits its 27 cells.
    """
    cells = torch.floor(points / epsilon).long()
    src_cells = torch.floor(sources / epsilon).long()
    low = torch.minimum(cells.min(0).values, src_cells.min(0).values) - 1
    size = torch.maximum(cells.max(0).values, src_cells.max(0).values) - low + 2
    keys = _voxel_keys(cells, low, size)
    sorted_keys, order = torch.sort(keys)
    offsets = torch.stack(torch.meshgrid(*[torch.arange(-1, 2, device=points.device)] * 3, indexing="ij"), -1)
    neighbour = _voxel_keys((src_cells[:, None, :] + offsets.reshape(1, 27, 3)).reshape(-1, 3), low, size)
    begin = torch.searchsorted(sorted_keys, neighbour, side="left")
    count = torch.searchsorted(sorted_keys, neighbour, side="right") - begin  # [c * 27]
    total = int(count.sum())
    src = torch.arange(sources.shape[0], device=points.device).repeat_interleave(27)
    src = src.repeat_interleave(count)
    within = torch.arange(total, device=points.device) - torch.repeat_interleave(count.cumsum(0) - count, count)
    idx = order[begin.repeat_interleave(count) + within]
    close = (points[idx] - sources[src]).norm(dim=1) <= epsilon
    return src[close], idx[close]


def multiview_consistency(
    masks: Tensor,
    depth: Tensor,
    cam_from_world: Tensor,
    intrinsics: Tensor,
    epsilon: float = 0.05,
    stride: int = 1,
    max_points: int = 1 << 17,
    max_sources: int = 16384,
    chunk: int = 2048,
) -> float:
    """MastSAM consistency of one scene (module docstring).

    Args:
        masks: [S, h, w, C] (bool or float) mask vector per mask pixel, or [S, h, w] integer instance
            ids standing for their one-hot vectors (0 = none; no [S, h, w, C] tensor is built), at
            any resolution.
        depth: [S, H, W] metres (0 = invalid); cam_from_world [S, 3, 4]; intrinsics [S, 3, 3] at (H, W).
        epsilon: correspondence radius in metres.
        stride: use every stride-th depth pixel row and column (at least; see max_points).
        max_points: raise the stride until S x rows x cols <= max_points.
        max_sources: labelled pixels whose consistency is averaged (taken evenly when there are more).
        chunk: source pixels searched at once.
    Returns:
        mean over labelled pixels with a correspondence of their mean cosine similarity; NaN if none.
    """
    S, H, W = depth.shape
    as_ids = masks.dim() == 3 and not masks.is_floating_point() and masks.dtype != torch.bool
    if not (masks.dim() == 4 or as_ids) or masks.shape[0] != S:
        raise ValueError(
            f"multiview_consistency: masks must be [S={S}, h, w, C] mask vectors or [S, h, w] integer ids, "
            f"got {tuple(masks.shape)} {masks.dtype}"
        )
    h, w = masks.shape[1:3]
    stride = max(1, stride)
    while S * len(range(0, H, stride)) * len(range(0, W, stride)) > max_points:
        stride += 1
    rows = torch.arange(0, H, stride, device=depth.device)
    cols = torch.arange(0, W, stride, device=depth.device)
    pixels = (rows[:, None] * W + cols[None, :]).reshape(-1)  # flat indices at (H, W)
    world = _world_points(depth, cam_from_world, intrinsics, rows, cols)  # [S, P0, 3], only sampled pixels
    mask_pixels = image_to_mask_pixel(pixels, (H, W), (h, w)).to(masks.device)
    valid = (depth.reshape(S, H * W)[:, pixels] > 0).to(masks.device)  # [S, P0]
    sampled = masks.reshape(S, h * w, -1)[:, mask_pixels][valid]  # [P, C] (C = 1 for ids)
    points = world.to(masks.device)[valid]  # [P, 3]
    view = torch.arange(S, device=masks.device)[:, None].expand_as(valid)[valid]  # [P]
    if as_ids:
        ids = sampled[:, 0]
        labelled = ids != 0
    else:
        vec = sampled.float()
        unit = vec / vec.norm(dim=1, keepdim=True).clamp_min(1e-12)  # zero vectors stay zero
        labelled = (vec != 0).any(1)
    sources = labelled.nonzero()[:, 0]
    if sources.numel() > max_sources:
        sources = sources[torch.linspace(0, sources.numel() - 1, max_sources, device=sources.device).long()]
    total, counted = 0.0, 0
    for start in range(0, sources.numel(), chunk):
        src = sources[start : start + chunk]
        s, q = _neighbour_pairs(points[src], points, epsilon)
        other = view[src][s] != view[q]
        s, q = s[other], q[other]
        if as_ids:  # one-hot vectors: cos = 1 for the same non-zero id, else 0
            cos = (ids[src][s] == ids[q]).float()
        else:
            cos = (unit[src][s] * unit[q]).sum(1)
        n = torch.bincount(s, minlength=src.numel())
        sums = torch.zeros(src.numel(), device=points.device).index_add_(0, s, cos)
        has = n > 0
        total += float((sums[has] / n[has]).sum())
        counted += int(has.sum())
    return total / counted if counted else math.nan
