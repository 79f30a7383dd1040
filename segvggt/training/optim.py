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


def build_optimizer(model: nn.Module, cfg: OptimConfig, total_steps: int):
    """(AdamW, LambdaLR stepped every optimizer step) for a model exposing `param_groups`."""
    groups = model.param_groups(cfg.lr_new, cfg.lr_pretrained, cfg.weight_decay)
    groups = [g for g in groups if g["params"]]
    # The fused kernel is several times faster than the per-tensor loop on CPU as well as on GPU.
    optimizer = torch.optim.AdamW(groups, betas=cfg.betas, fused=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total_steps, cfg.warmup_fraction, cfg.min_lr_ratio)
    )
    return optimizer, scheduler
