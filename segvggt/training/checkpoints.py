"""What a run keeps on disk: last.ckpt, best.ckpt by val/ap50 and a few periodic checkpoints, all
written atomically, and the expected size of each.

A checkpoint holds the model's state dict and the optimizer / scheduler / loop states that resume
needs. The frozen teacher is not in it (SegVGGTModule does not register it; it is rebuilt from
`pretrained`), so `last.ckpt` of the VGGT-1B recipe is the student's weights plus AdamW's two fp32
moments per trainable parameter. It stays usable alone by tools/eval.py and tools/infer.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from segvggt.atomic import atomic_path
from segvggt.config import ExperimentConfig
from segvggt.training.low_precision import autocast_dtype, bytes_saved_in

PERIODIC_PATTERN = "checkpoints/step{step:07d}"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file and renames it, so a killed run never leaves a
    half-written `last.ckpt` behind (resume then always finds a complete file)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


class PeriodicCheckpoint(ModelCheckpoint):
    """Every n training steps: last.ckpt and checkpoints/stepNNNNNNN.ckpt, keeping only the newest
    `keep` periodic files (0 = last.ckpt only).

    Lightning keeps "the newest k" only through a monitored metric, which makes it defer saves that
    fall on an epoch's last batch to a validation that may not run; this keeps every save on time and
    removes the oldest periodic files itself.
    """

    def __init__(self, dirpath: Path, every_n_train_steps: int, keep: int) -> None:
        super().__init__(
            dirpath=dirpath, filename=PERIODIC_PATTERN, auto_insert_metric_name=False,
            every_n_train_steps=every_n_train_steps, save_last=True, save_top_k=-1 if keep > 0 else 0,
        )  # fmt: skip
        self.keep = keep

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The last step is saved too when max_steps is not a multiple of every_n_train_steps
        (Lightning's own end-of-training save skips last.ckpt once any periodic save made it)."""
        if trainer.global_step > self._last_global_step_saved:
            candidates = self._monitor_candidates(trainer)
            self._save_topk_checkpoint(trainer, candidates)
            self._save_last_checkpoint(trainer, candidates)
        super().on_train_end(trainer, pl_module)

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        if self.keep > 0 and trainer.is_global_zero and Path(filepath).parent.name == "checkpoints":
            periodic = sorted(Path(filepath).parent.glob("step*.ckpt"))
            for old in periodic[: max(0, len(periodic) - self.keep)]:
                trainer.strategy.remove_checkpoint(old)
                self.best_k_models.pop(str(old), None)


def checkpoint_callbacks(cfg: ExperimentConfig, run_dir: Path) -> list[ModelCheckpoint]:
    """last.ckpt + the newest `keep_checkpoints` periodic ones, and best.ckpt by val/ap50."""
    t = cfg.trainer
    callbacks: list[ModelCheckpoint] = [PeriodicCheckpoint(Path(run_dir), t.checkpoint_every_n_steps, t.keep_checkpoints)]
    if t.val_every_n_steps > 0 and t.limit_val_batches != 0:
        callbacks.append(ModelCheckpoint(
            dirpath=run_dir, filename="best", auto_insert_metric_name=False, monitor="val/ap50", mode="max",
            save_top_k=1, save_last=False, enable_version_counter=False,
        ))  # fmt: skip
    return callbacks


def checkpoint_size_bytes(module: L.LightningModule, precision: str = "32-true") -> tuple[int, int]:
    """(weights, optimizer states) bytes of one checkpoint of `module` (AdamW: two fp32 moments per
    trainable parameter). The frozen teacher is not part of it; with mixed precision the frozen
    aggregator matrices are saved in the autocast dtype (training/low_precision.py)."""
    weights = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    dtype = autocast_dtype(precision)
    if dtype is not None:
        weights -= bytes_saved_in(module.model.vggt.aggregator, dtype)
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return weights, 2 * 4 * trainable


def describe_checkpoints(cfg: ExperimentConfig, module: L.LightningModule) -> str:
    """One line: expected checkpoint size x count."""
    weights, states = checkpoint_size_bytes(module, cfg.trainer.precision)
    count = 1 + cfg.trainer.keep_checkpoints + (1 if cfg.trainer.val_every_n_steps > 0 else 0)
    return (
        f"checkpoints: about {_size(weights + states)} each (weights {_size(weights)} + optimizer "
        f"states {_size(states)}) x at most {count} files (last.ckpt, best.ckpt by val/ap50, "
        f"{cfg.trainer.keep_checkpoints} periodic) = {_size(count * (weights + states))}"
    )


def _size(nbytes: float) -> str:
    """Bytes in GB (decimal) from 1 GB up, else MB."""
    return f"{nbytes / 1e9:.2f} GB" if nbytes >= 1e9 else f"{nbytes / 1e6:.1f} MB"


