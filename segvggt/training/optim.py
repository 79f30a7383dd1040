"""AdamW over the model's two learning-rate groups, linear warm-up then cosine decay."""

from __future__ import annotations

import math

import torch
from torch import nn

from segvggt.training.config import OptimConfig


def warmup_cosine(step: int, total_steps: int, warmup_fraction: float, min_ratio: float) -> float:
    """Multiplier of the peak learning rate at `step` (0-based): linear from ~0, then cosine to min_ratio."""
    warmup = max(1, int(round(total_steps * warmup_fraction)))
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def fused_is_compatible(grad_clip: float, has_grad_scaler: bool) -> bool:
    """Whether fused AdamW may be used.

    Fused AdamW unscales fp16 gradients inside its step, so with a gradient scaler (16-mixed) the
    gradients are still scaled when they would be clipped: then the per-tensor (foreach) AdamW is used.
    Without a scaler (32-true, bf16-mixed) the gradients are true gradients; SegVGGTModule clips them
    itself (Lightning's mixed-precision plugin refuses any fused optimizer when clipping).
    """
    return not (grad_clip > 0 and has_grad_scaler)


def build_optimizer(model: nn.Module, cfg: OptimConfig, total_steps: int, fused: bool = True):
    """(AdamW, LambdaLR stepped every optimizer step) for a model exposing `param_groups`.

    fused: the fused kernel (several times faster than the per-tensor loop, CPU and GPU); see
    `fused_is_compatible`. False uses the foreach implementation.
    """
    groups = model.param_groups(cfg.lr_new, cfg.lr_pretrained, cfg.weight_decay)
    groups = [g for g in groups if g["params"]]
    optimizer = torch.optim.AdamW(groups, betas=cfg.betas, fused=fused, foreach=None if fused else True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total_steps, cfg.warmup_fraction, cfg.min_lr_ratio)
    )
    return optimizer, scheduler
