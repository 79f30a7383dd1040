"""A rough, monotone estimate of the peak memory of one inference, checked before the backbone runs.

Counted (bytes of the activation dtype unless noted): the aggregator output of every layer that a head
reads (VGGT keeps all L layers: L x S x P x 2C), the working set of one attention block over all S x P
tokens (~12 C per token), the DPT heads on one chunk of frames (features x H x W per frame, a few maps),
the dense outputs (depth, points, confidences: ~8 float32 maps of S x H x W), the instance features
(S x D x h x w), the mask logits and their post-processing copies (~3 x Q x S x h x w float32) and the
parameters. Constants are deliberately generous (x 1.25): the goal is a clear message with a usable
--max-frames instead of an out-of-memory crash, not an exact number.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

from segvggt.inference.errors import InferenceError

logger = logging.getLogger(__name__)

SAFETY = 1.25
_GIB = float(1 << 30)


def estimate_peak_bytes(model: nn.Module, num_frames: int, height: int, width: int, activation_bytes: int = 4) -> int:
    """Estimated peak bytes to encode and post-process `num_frames` images of height x width with `model`
    (a VGGT or a SegVGGT)."""
    from segvggt.backbone import VGGT

    vggt = model if isinstance(model, VGGT) else model.vggt
    cfg = vggt.cfg
    S, H, W = num_frames, height, width
    P = (H // cfg.patch_size) * (W // cfg.patch_size) + 1 + cfg.aggregator.num_register_tokens
    C = cfg.embed_dim
    L = cfg.aggregator.depth
    chunk = min(S, cfg.frames_chunk_size or S)
    features = max(cfg.depth_head.features, cfg.point_head.features)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    total = params
    total += activation_bytes * L * S * P * 2 * C  # every layer's tokens are kept for the heads
    total += activation_bytes * 12 * S * P * C  # one block's working set (qkv, MLP hidden, residual)
    total += 4 * 4 * chunk * features * H * W  # DPT fusion maps of one chunk of frames (fp32 heads)
    total += 4 * 8 * S * H * W  # depth, points and confidences
    config = getattr(model, "config", None)
    if config is not None:
        h, w = H // 2, W // 2
        total += 4 * S * config.mask_dim * h * w  # instance features
        total += 4 * 3 * config.num_queries * S * h * w  # mask logits + post-processing copies
    return int(SAFETY * total)


def available_bytes(device: torch.device) -> int:
    """Free memory on `device`: free GPU memory for CUDA, available RAM otherwise."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown platform: do not block


def max_frames_that_fit(model: nn.Module, height: int, width: int, budget: int, activation_bytes: int = 4) -> int:
    """Largest S whose estimate fits `budget` (0 if not even one frame fits)."""
    lo, hi = 0, 1
    while estimate_peak_bytes(model, hi, height, width, activation_bytes) <= budget and hi < 1 << 16:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if estimate_peak_bytes(model, mid, height, width, activation_bytes) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def check_memory(
    model: nn.Module, num_frames: int, height: int, width: int, device: torch.device, activation_bytes: int = 4,
    available: int | None = None,
) -> int:
    """Raise InferenceError suggesting --max-frames when the estimate exceeds the free memory; returns the estimate."""
    need = estimate_peak_bytes(model, num_frames, height, width, activation_bytes)
    have = available_bytes(device) if available is None else available
    logger.info("memory estimate for %d frames at %dx%d: %.2f GiB (%.2f GiB free on %s)", num_frames, width, height,
                need / _GIB, have / _GIB, device)
    if need > have:
        fit = max_frames_that_fit(model, height, width, have, activation_bytes)
        hint = f"try --max-frames {fit}" if fit >= 2 else "use a machine with more memory (or a GPU)"
        raise InferenceError(
            f"{num_frames} frames at {width}x{height} need about {need / _GIB:.1f} GiB but only {have / _GIB:.1f} GiB "
            f"is free on {device}; {hint}"
        )
    return need
