"""One training run end to end: run folder, Trainer, checkpoints that survive SIGKILL, final evaluation.

Called by tools/train.py (which parses the config); everything here takes typed objects.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from segvggt.atomic import atomic_path, atomic_write_text
from segvggt.config import ExperimentConfig

logger = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file and renames it, so a killed run never leaves a
    half-written `last.ckpt` behind (resume then always finds a complete file)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


def prepare_run_dir(run_dir: Path, cfg_dict: dict, resume: bool) -> None:
    """Create the run folder and save the resolved config beside the run."""
    run_dir = Path(run_dir)
    if not resume and (run_dir / "last.ckpt").exists():
        from segvggt.data.errors import DataError

        raise DataError(f"{run_dir} already holds a run (last.ckpt); pass --resume to continue it or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(cfg_dict, sort_keys=False))


def _precision(cfg: ExperimentConfig) -> str:
    if cfg.trainer.precision != "auto":
        return cfg.trainer.precision
    gpu = torch.cuda.is_available() and cfg.trainer.accelerator in ("auto", "gpu", "cuda")
    return "bf16-mixed" if gpu else "32-true"


def build_trainer(
    cfg: ExperimentConfig, run_dir: Path, extra_callbacks: tuple = (), **overrides: Any
) -> L.Trainer:
    """The Lightning Trainer of a run: step-based schedule, periodic + last checkpoints, CSV/TensorBoard."""
    t = cfg.trainer
    checkpoint = ModelCheckpoint(
        dirpath=run_dir, filename="checkpoints/step{step:07d}", auto_insert_metric_name=False,
        every_n_train_steps=t.checkpoint_every_n_steps, save_last=True, save_top_k=-1,
    )  # fmt: skip
    kwargs = dict(
        default_root_dir=run_dir,
        max_steps=t.max_steps,
        max_epochs=-1,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=_precision(cfg),
        gradient_clip_val=cfg.optim.grad_clip or None,
        log_every_n_steps=t.log_every_n_steps,
        val_check_interval=t.val_every_n_steps,
        check_val_every_n_epoch=None,
        limit_val_batches=t.limit_val_batches,
        num_sanity_val_steps=t.num_sanity_val_steps,
        callbacks=[checkpoint, TQDMProgressBar(refresh_rate=max(1, t.log_every_n_steps // 2)), *extra_callbacks],
        # one log version per (re)start, so a resumed run keeps the logs written before the kill
        logger=[CSVLogger(run_dir, name="logs"), TensorBoardLogger(run_dir, name="tensorboard")],
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # the dynamic batch sampler splits scenes over ranks itself
        enable_model_summary=False,
    )
    kwargs.update(overrides)
    return L.Trainer(**kwargs)


def train(
    cfg: ExperimentConfig, cfg_dict: dict, run_dir: Path, *, resume: bool = False, final_eval: bool = True,
    extra_callbacks: tuple = (), **trainer_overrides: Any,
) -> dict[str, float]:
    """Fit, keep RUN_DIR/last.ckpt, then (rank 0) evaluate on held-out scenes -> metrics.json + curves.png."""
    from segvggt.data.datamodule import SceneDataModule
    from segvggt.training.module import SegVGGTModule

    run_dir = Path(run_dir)
    if cfg.trainer.threads > 0:
        torch.set_num_threads(cfg.trainer.threads)
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    datamodule = SceneDataModule.for_experiment(cfg)  # validates on the frames tools/eval.py uses
    module = SegVGGTModule(cfg_dict)
    trainer = build_trainer(cfg, run_dir, extra_callbacks, **trainer_overrides)
    ckpt_path = None
    if resume:
        last = run_dir / "last.ckpt"
        ckpt_path = str(last) if last.is_file() else None
        if ckpt_path is None:
            logger.warning("no %s yet: starting the run from the beginning", last)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    if not final_eval or trainer.global_rank != 0 or trainer_overrides.get("fast_dev_run"):
        return {}
    from segvggt.evaluation.run_eval import evaluate_model
    from segvggt.training.curves import plot_curves

    metrics = evaluate_model(module.model, cfg, progress=True)
    metrics["global_step"] = int(trainer.global_step)
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=1))
    plot_curves(sorted((run_dir / "logs").glob("version_*/metrics.csv")), run_dir / "curves.png")
    return {k: v for k, v in metrics.items() if isinstance(v, float)}
