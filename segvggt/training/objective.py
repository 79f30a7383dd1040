"""The training objective as plain torch: prompts sampled from the ground truth, the set criterion
(class, BCE, dice, FADA, prompt losses) and VGGT's geometry losses against ground truth or a teacher.

The LightningModule only calls `training_losses` and logs what it returns.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from segvggt.losses import SetCriterion, geometry_losses, ground_truth_targets, sample_prompts, teacher_targets
from segvggt.losses.config import LossConfig
from segvggt.training.config import PromptTrainingConfig
from segvggt.training.teacher import GEOMETRY_HEADS, teacher_outputs
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
        # On the batch's device: copying a GPU batch's ids and target masks to the host, and eroding
        # masks there, took seconds of an H200 step (benchmarks/results/profile_train_step_h200.log).
        p, t = sample_prompts(
            batch.instance_ids[b], targets, cfg.prompts_per_scene,
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
    teacher: nn.Module | None = None,
    generator: torch.Generator | None = None,
    cost_shares: list[dict[str, dict[str, float]]] | None = None,
) -> dict[str, Tensor]:
    """Unweighted named losses of one batch (weights: `criterion.weighted_sum`).

    Args:
        batch: SceneBatch with images [B, S, 3, H, W] and targets at (H/2, W/2).
        geometry_supervision: "gt", "teacher" (needs `teacher`, a frozen VGGT) or "none".
        cost_shares: optional list that receives each scene's matching-cost term shares.

    Only what a loss reads is computed: the point head runs only when loss_point counts (w_point > 0),
    and the masks come as mask embeddings that the criterion evaluates at its sampled points. The teacher runs first, one scene
    at a time, so its transient memory is not added to the student's stored activations.
    """
    prompts, prompt_targets = sample_batch_prompts(batch, prompt_cfg, generator)
    need_mass = loss_cfg.fada_loss or loss_cfg.fada_in_cost
    heads: tuple[str, ...] = GEOMETRY_HEADS + (("point",) if loss_cfg.w_point > 0 else ())
    if geometry_supervision == "gt":
        geometry = ground_truth_targets(batch)
    elif geometry_supervision == "teacher":
        if teacher is None:
            raise ValueError("geometry_supervision='teacher' needs a teacher model")
        geometry = teacher_targets(teacher_outputs(teacher, batch.images), tuple(batch.images.shape[-2:]))
    else:
        geometry, heads = None, ()
    aux = {"aux_outputs": True} if loss_cfg.deep_supervision else {}  # Mask2Former's per-block losses
    out = model(batch.images, prompts=prompts, return_frame_mass=need_mass, heads=heads, mask_logits=False, **aux)
    losses = criterion(out, batch.targets, prompt_targets=prompt_targets, generator=generator, cost_shares=cost_shares)
    if geometry is not None:
        losses.update(geometry_losses(out, geometry, loss_cfg))
    return losses
