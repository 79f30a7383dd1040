"""The training objective as plain torch: prompts sampled from the ground truth, the set criterion
(class, BCE, dice, FADA, prompt losses) and VGGT's geometry losses against ground truth or a teacher.

The LightningModule only calls `training_losses` and logs what it returns.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from segvggt.losses import SetCriterion, geometry_losses, ground_truth_targets, sample_prompts, teacher_targets
from segvggt.losses.config import LossConfig
from segvggt.training.config import PromptTrainingConfig
from segvggt.types import SceneBatch


def sample_batch_prompts(
    batch: SceneBatch, cfg: PromptTrainingConfig, generator: torch.Generator | None = None
) -> tuple[list[list], list[Tensor]] | tuple[None, None]:
    """Click prompts for every scene of the batch and the instance index each one points at.

    Returns (prompts: B lists of prompts, prompt_targets: B tensors [R_b]) or (None, None) when
    prompt training is off.
    """
    if cfg.prompts_per_scene <= 0:
        return None, None
    prompts, prompt_targets = [], []
    for b, targets in enumerate(batch.targets):
        p, t = sample_prompts(
            batch.instance_ids[b].cpu(), targets.to("cpu"), cfg.prompts_per_scene,
            max_positive=cfg.max_positive, max_negative=cfg.max_negative, max_views=cfg.max_views,
            generator=generator,
        )  # fmt: skip
        prompts.append(p)
        prompt_targets.append(t.to(batch.images.device))
    return prompts, prompt_targets


def training_losses(
    model: nn.Module,
    batch: SceneBatch,
    criterion: SetCriterion,
    loss_cfg: LossConfig,
    prompt_cfg: PromptTrainingConfig,
    geometry_supervision: str,
    teacher: Callable[[Tensor], dict] | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """Unweighted named losses of one batch (weights: `criterion.weighted_sum`).

    Args:
        batch: SceneBatch with images [B, S, 3, H, W] and targets at (H/2, W/2).
        geometry_supervision: "gt", "teacher" (needs `teacher`, a frozen VGGT) or "none".
    """
    prompts, prompt_targets = sample_batch_prompts(batch, prompt_cfg, generator)
    need_mass = loss_cfg.fada_loss or loss_cfg.fada_in_cost
    out = model(batch.images, prompts=prompts, return_frame_mass=need_mass)
    losses = criterion(out, batch.targets, prompt_targets=prompt_targets, generator=generator)
    if geometry_supervision == "gt":
        losses.update(geometry_losses(out, ground_truth_targets(batch), loss_cfg))
    elif geometry_supervision == "teacher":
        if teacher is None:
            raise ValueError("geometry_supervision='teacher' needs a teacher model")
        with torch.no_grad():
            teacher_out = teacher(batch.images)
        losses.update(geometry_losses(out, teacher_targets(teacher_out, tuple(batch.images.shape[-2:])), loss_cfg))
    return losses
