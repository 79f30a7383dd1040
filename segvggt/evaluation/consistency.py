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

Cost: every sampled pixel is compared with every other (chunked distances), so pixels are sampled on
a regular grid: every `stride`-th depth pixel row and column, the stride raised until at most
`max_points` pixels remain. The mean over sources and over correspondences is then estimated on that
grid (exact when nothing is skipped, as in the tests). Each depth pixel reads the mask pixel that
contains its centre (the lifting convention), so masks may be at lower resolution.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from segvggt.evaluation.lifting import image_to_mask_pixel
from segvggt.geometry import depth_to_world_points


def one_hot_vectors(ids: Tensor) -> Tensor:
    """ids [S, h, w] int (0 = no instance) -> [S, h, w, C] float one-hot over the C distinct non-zero ids."""
    values = torch.unique(ids)
    values = values[values != 0]
    return (ids[..., None] == values.to(ids.device)).float()


def multiview_consistency(
    mask_vectors: Tensor,
    depth: Tensor,
    cam_from_world: Tensor,
    intrinsics: Tensor,
    epsilon: float = 0.05,
    stride: int = 1,
    max_points: int = 16384,
    chunk: int = 1024,
) -> float:
    """MastSAM consistency of one scene (module docstring).

    Args:
        mask_vectors: [S, h, w, C] (bool or float) mask vector per mask pixel, any resolution.
        depth: [S, H, W] metres (0 = invalid); cam_from_world [S, 3, 4]; intrinsics [S, 3, 3] at (H, W).
        epsilon: correspondence radius in metres.
        stride: use every stride-th depth pixel row and column (at least; see max_points).
        max_points: raise the stride until S x rows x cols <= max_points.
        chunk: source pixels compared with all pixels at once (memory chunk x P).
    Returns:
        mean over labelled pixels with a correspondence of their mean cosine similarity; NaN if none.
    """
    S, H, W = depth.shape
    if mask_vectors.dim() != 4 or mask_vectors.shape[0] != S:
        raise ValueError(
            f"multiview_consistency: mask vectors must be [S={S}, h, w, C], got {tuple(mask_vectors.shape)}"
        )
    h, w, C = mask_vectors.shape[1:]
    stride = max(1, stride)
    while S * len(range(0, H, stride)) * len(range(0, W, stride)) > max_points:
        stride += 1
    world = depth_to_world_points(depth.float(), cam_from_world.float(), intrinsics.float())  # [S, H, W, 3]
    rows = torch.arange(0, H, stride, device=depth.device)
    cols = torch.arange(0, W, stride, device=depth.device)
    pixels = (rows[:, None] * W + cols[None, :]).reshape(-1)  # flat indices at (H, W)
    mask_pixels = image_to_mask_pixel(pixels, (H, W), (h, w))
    vectors = mask_vectors.float().reshape(S, h * w, C)[:, mask_pixels]  # [S, P0, C]
    valid = depth.reshape(S, H * W)[:, pixels] > 0  # [S, P0]
    points = world.reshape(S, H * W, 3)[:, pixels][valid]  # [P, 3]
    view = torch.arange(S, device=depth.device)[:, None].expand_as(valid)[valid]  # [P]
    vec = vectors[valid]  # [P, C]
    unit = vec / vec.norm(dim=1, keepdim=True).clamp_min(1e-12)  # zero vectors stay zero
    sources = (vec != 0).any(1).nonzero()[:, 0]
    total, counted = 0.0, 0
    for start in range(0, sources.numel(), chunk):
        src = sources[start : start + chunk]
        near = torch.cdist(points[src], points) <= epsilon  # [c, P]
        near &= view[src][:, None] != view[None, :]
        n = near.sum(1)
        cos = (unit[src] @ unit.T) * near  # [c, P]
        has = n > 0
        total += float((cos.sum(1)[has] / n[has]).sum())
        counted += int(has.sum())
    return total / counted if counted else math.nan
