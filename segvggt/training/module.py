"""The LightningModule: thin glue around SegVGGT, the objective and the evaluation metrics."""

from __future__ import annotations

import logging

import lightning as L
import torch

from segvggt.config import experiment_from_dict
from segvggt.evaluation.scene_eval import SceneEvaluator
from segvggt.hub import resolve_checkpoint
from segvggt.losses import SetCriterion
from segvggt.losses.term_shares import term_share_logs
from segvggt.segmentation.segvggt import SegVGGT
from segvggt.training.objective import training_losses
from segvggt.training.optim import build_optimizer, fused_is_compatible
from segvggt.training.low_precision import autocast_dtype, store_frozen_matrices
from segvggt.training.teacher import low_precision_teacher, make_teacher
from segvggt.types import SceneBatch

logger = logging.getLogger(__name__)


class SegVGGTModule(L.LightningModule):
    """Trains SegVGGT. Takes the experiment config as a plain dict so checkpoints carry it verbatim."""

    def __init__(self, config: dict):
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.cfg = experiment_from_dict(config)
        self.model = SegVGGT.from_config(self.cfg.model)
        self.criterion = SetCriterion(self.cfg.loss)
        point_head = getattr(self.model.vggt, "point_head", None)
        if point_head is not None and self.cfg.loss.w_point <= 0:
            # No loss supervises the point head (VGGT's default objective drops it too): it does not run
            # in training and stays frozen at its pre-trained values.
            point_head.requires_grad_(False)
        if self.cfg.pretrained:
            self.model.load_vggt_checkpoint(resolve_checkpoint(self.cfg.pretrained))  # a path or hf://org/name/file
        teacher = make_teacher(self.model.vggt) if self.cfg.geometry_supervision == "teacher" else None
        # Set through object.__setattr__ so that nn.Module does not register it: the teacher is never
        # trained, never saved in checkpoints (it is rebuilt from `pretrained`) and invisible to DDP.
        object.__setattr__(self, "_teacher", teacher)
        self.evaluator = SceneEvaluator(self.cfg.data, self.cfg.eval)

    @property
    def teacher(self):
        """The frozen geometry teacher (None unless geometry_supervision is "teacher")."""
        return self._teacher

    def on_fit_start(self) -> None:
        dtype = autocast_dtype(self.trainer.precision)
        if dtype is not None:  # mixed precision: frozen matrices in the autocast dtype (same results)
            store_frozen_matrices(self.model.vggt.aggregator, dtype)
            if self._teacher is not None:
                low_precision_teacher(self._teacher, dtype)
        if self._teacher is not None:
            self._teacher.to(self.device)

    def training_step(self, batch: SceneBatch, batch_idx: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.cfg.trainer.seed * 100003 + self.global_step)
        cost_shares: list = []
        losses = training_losses(
            self.model, batch, self.criterion, self.cfg.loss, self.cfg.prompts,
            self.cfg.geometry_supervision, teacher=self._teacher, generator=generator, cost_shares=cost_shares,
        )  # fmt: skip
        total = self.criterion.weighted_sum(losses)
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items()}, batch_size=batch.batch_size)
        # each term's share of the matching cost and of the weighted loss (losses/term_shares.py)
        shares = term_share_logs(cost_shares, losses, self.cfg.loss.loss_weights())
        self.log_dict({f"train/{k}": v for k, v in shares.items()}, batch_size=batch.batch_size)
        self.log("train/loss", total.detach(), prog_bar=True, batch_size=batch.batch_size)
        for group in self.trainer.optimizers[0].param_groups if self._trainer is not None else ():
            self.log(f"lr/{group.get('name', 'group')}", group["lr"], batch_size=batch.batch_size)
        return total

    def on_validation_epoch_start(self) -> None:
        self.evaluator.reset()

    def validation_step(self, batch: SceneBatch, batch_idx: int) -> None:
        self.evaluator.update(self.model, batch)

    def on_validation_epoch_end(self) -> None:
        metrics = self.evaluator.compute()
        self.log_dict({f"val/{k}": float(v) for k, v in metrics.items()}, sync_dist=False)

    def configure_optimizers(self):
        fused = fused_is_compatible(self.cfg.optim.grad_clip, self._grad_scaler() is not None)
        optimizer, scheduler = build_optimizer(self.model, self.cfg.optim, self.cfg.trainer.max_steps, fused=fused)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip by global norm, here rather than in Lightning's precision plugin, which refuses fused
        optimizers whenever clipping is on. The gradients are true gradients at this point: without a
        scaler (32-true, bf16-mixed) they never were scaled, with one (16-mixed) Lightning has unscaled
        them already and the optimizer is the non-fused one (see fused_is_compatible). Logs the norm
        before clipping as train/grad_norm."""
        if not gradient_clip_val:
            return
        if gradient_clip_algorithm not in (None, "norm"):
            raise ValueError(f"only gradient clipping by norm is supported, got {gradient_clip_algorithm!r}")
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, gradient_clip_val)
        self.log("train/grad_norm", norm.detach(), batch_size=1)

    def _grad_scaler(self):
        trainer = self._trainer
        return None if trainer is None else getattr(trainer.precision_plugin, "scaler", None)
