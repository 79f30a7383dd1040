"""Geometric resize/crop that keeps the cameras right, and photometric colour jitter."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from segvggt.geometry import scale_intrinsics


def resize_crop(
    images: Tensor,
    depth: Tensor,
    instance_ids: Tensor,
    intrinsics: Tensor,
    out_hw: tuple[int, int],
    rng: np.random.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Scale S frames to cover (H, W), then crop to exactly (H, W).

    Colour is resampled bilinearly (antialiased); depth and instance ids take the nearest pixel
    (centre-aligned), so no depth or id is invented across an object boundary. The crop is
    centred, or at a random offset when `rng` is given.

    Args:
        images: [S, 3, H0, W0] float in [0, 1]; depth: [S, H0, W0]; instance_ids: [S, H0, W0] int64;
        intrinsics: [S, 3, 3] in pixels of the input images.
    Returns:
        images [S, 3, H, W], depth [S, H, W], instance_ids [S, H, W], intrinsics [S, 3, 3] of the output.
    """
    H0, W0 = images.shape[-2:]
    H, W = out_hw
    scale = max(H / H0, W / W0)
    h1, w1 = max(H, int(np.floor(H0 * scale + 0.5))), max(W, int(np.floor(W0 * scale + 0.5)))
    K = intrinsics.clone()
    if (h1, w1) != (H0, W0):
        images = F.interpolate(images, size=(h1, w1), mode="bilinear", align_corners=False, antialias=True)
        depth = F.interpolate(depth[:, None], size=(h1, w1), mode="nearest-exact")[:, 0]
        instance_ids = F.interpolate(instance_ids[:, None].double(), size=(h1, w1), mode="nearest-exact")[:, 0].long()
        K = scale_intrinsics(K, w1 / W0, h1 / H0)
    if rng is None:
        y0, x0 = (h1 - H) // 2, (w1 - W) // 2
    else:
        y0, x0 = int(rng.integers(0, h1 - H + 1)), int(rng.integers(0, w1 - W + 1))
    K[..., 0, 2] -= x0
    K[..., 1, 2] -= y0
    crop = (..., slice(y0, y0 + H), slice(x0, x0 + W))
    return images[crop].clamp(0.0, 1.0), depth[crop], instance_ids[crop], K


def color_jitter(images: Tensor, strength: float, rng: np.random.Generator) -> Tensor:
    """Per-frame random brightness, contrast and saturation, each a factor in [1 - s, 1 + s].

    images: [S, 3, H, W] in [0, 1] -> [S, 3, H, W] in [0, 1]. strength 0 returns the input.
    """
    if strength <= 0:
        return images
    S = images.shape[0]
    factors = torch.as_tensor(rng.uniform(1.0 - strength, 1.0 + strength, size=(3, S, 1, 1, 1)), dtype=images.dtype)
    brightness, contrast, saturation = factors
    out = images * brightness
    luma_weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype).view(1, 3, 1, 1)
    gray = (out * luma_weights).sum(dim=1, keepdim=True)
    mean = gray.mean(dim=(-1, -2), keepdim=True)
    out = (out - mean) * contrast + mean
    gray = (out * luma_weights).sum(dim=1, keepdim=True)
    out = (out - gray) * saturation + gray
    return out.clamp(0.0, 1.0)
