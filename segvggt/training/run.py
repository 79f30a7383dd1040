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
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from segvggt.atomic import atomic_write_text
from segvggt.config import ExperimentConfig
from segvggt.training.checkpoints import AtomicCheckpointIO, checkpoint_callbacks, describe_checkpoints

logger = logging.getLogger(__name__)


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


# Trainer arguments build_trainer sets from named config keys; `trainer.extra` may not repeat them.
_MANAGED = {
    "default_root_dir": "--out", "max_steps": "trainer.max_steps", "max_epochs": "trainer.max_steps",
    "accelerator": "trainer.accelerator", "devices": "trainer.devices", "num_nodes": "trainer.num_nodes",
    "strategy": "trainer.strategy", "precision": "trainer.precision", "gradient_clip_val": "optim.grad_clip",
    "log_every_n_steps": "trainer.log_every_n_steps", "val_check_interval": "trainer.val_every_n_steps",
    "limit_val_batches": "trainer.limit_val_batches", "num_sanity_val_steps": "trainer.num_sanity_val_steps",
    "callbacks": None, "logger": "trainer.logger", "plugins": None, "check_val_every_n_epoch": None,
    "use_distributed_sampler": None, "enable_model_summary": None,
}


def check_trainer_extra(extra: dict[str, Any]) -> None:
    """Raise ConfigError (one line) for a `trainer.extra` key that Lightning's Trainer does not take
    or that the config already sets under its own name."""
    import inspect

    from segvggt.config_utils import ConfigError

    accepted = set(inspect.signature(L.Trainer.__init__).parameters) - {"self"}
    for key in extra:
        if key in _MANAGED:
            where = _MANAGED[key]
            raise ConfigError(
                f"trainer.extra.{key}: set by the run itself" + (f"; use {where} instead" if where else "")
            )
        if key not in accepted:
            import difflib

            close = difflib.get_close_matches(key, sorted(accepted), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"trainer.extra.{key}: Lightning's Trainer has no argument {key!r}{hint}")


def _loggers(cfg: ExperimentConfig, run_dir: Path) -> list:
    loggers = []
    for name in cfg.trainer.logger:
        if name == "csv":
            loggers.append(CSVLogger(run_dir, name="logs"))
        elif name == "tensorboard":
            loggers.append(TensorBoardLogger(run_dir, name="tensorboard"))
        elif name == "wandb":
            try:
                import wandb  # noqa: F401
            except ImportError:
                from segvggt.config_utils import ConfigError

                raise ConfigError("trainer.logger lists wandb but the wandb package is not installed: pip install wandb") from None
            from lightning.pytorch.loggers import WandbLogger

            loggers.append(WandbLogger(project="segvggt", name=run_dir.name, save_dir=str(run_dir)))
    return loggers


def build_trainer(
    cfg: ExperimentConfig, run_dir: Path, extra_callbacks: tuple = (), **overrides: Any
) -> L.Trainer:
    """The Lightning Trainer of a run: step-based schedule, last / best / periodic checkpoints, loggers."""
    t = cfg.trainer
    check_trainer_extra(t.extra)
    run_dir = Path(run_dir)
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
        callbacks=[
            *checkpoint_callbacks(cfg, run_dir),
            TQDMProgressBar(refresh_rate=max(1, t.log_every_n_steps // 2)),
            *extra_callbacks,
        ],
        # one log version per (re)start, so a resumed run keeps the logs written before the kill
        logger=_loggers(cfg, run_dir) or False,
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # the dynamic batch sampler splits scenes over ranks itself
        enable_model_summary=False,
        **t.extra,
    )
    kwargs.update(overrides)
    return L.Trainer(**kwargs)


def train(
    cfg: ExperimentConfig, cfg_dict: dict, run_dir: Path, *, resume: bool = False, final_eval: bool = True,
    extra_callbacks: tuple = (), **trainer_overrides: Any,
) -> dict[str, float]:
    """Fit, keep RUN_DIR/last.ckpt, then (rank 0) evaluate on held-out scenes -> metrics.json + curves.png.

    The final evaluation reads RUN_DIR/last.ckpt exactly as tools/eval.py does and runs on the
    training device (bf16 autocast on a GPU), so its numbers are tools/eval.py's on that checkpoint.
    """
    from segvggt.data.datamodule import SceneDataModule
    from segvggt.training.module import SegVGGTModule

    run_dir = Path(run_dir)
    if cfg.trainer.threads > 0:
        torch.set_num_threads(cfg.trainer.threads)
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    trainer = build_trainer(cfg, run_dir, extra_callbacks, **trainer_overrides)
    datamodule = SceneDataModule.for_experiment(cfg)  # validates on the frames tools/eval.py uses
    module = SegVGGTModule(cfg_dict)
    if trainer.global_rank == 0:
        print(describe_checkpoints(cfg, module), flush=True)
    ckpt_path = None
    if resume:
        last = run_dir / "last.ckpt"
        ckpt_path = str(last) if last.is_file() else None
        if ckpt_path is None:
            logger.warning("no %s yet: starting the run from the beginning", last)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # Under DDP's script launcher (the default multi-device strategy) this process joined the process
        # group; the final evaluation runs on rank 0 alone, so its metrics must not sync with other ranks.
        torch.distributed.destroy_process_group()
    if not final_eval or trainer.global_rank != 0 or trainer_overrides.get("fast_dev_run"):
        return {}
    device = trainer.strategy.root_device
    del module, trainer, datamodule  # free the training state (weights, optimizer, teacher) first
    if device.type == "cuda":
        torch.cuda.empty_cache()
    metrics = evaluate_run(cfg, run_dir, device)
    return {k: v for k, v in metrics.items() if isinstance(v, float)}


def evaluate_run(cfg: ExperimentConfig, run_dir: Path, device: torch.device | str) -> dict:
    """Held-out evaluation of RUN_DIR/last.ckpt on `device` -> metrics.json and curves.png."""
    from segvggt.evaluation.report import finite_or_null
    from segvggt.evaluation.run_eval import evaluate_model
    from segvggt.inference.checkpoints import load_model
    from segvggt.training.curves import plot_curves

    loaded = load_model(Path(run_dir) / "last.ckpt")
    metrics = evaluate_model(loaded.model.to(device), cfg, progress=True, device=device)
    metrics["global_step"] = int(torch.load(Path(run_dir) / "last.ckpt", map_location="cpu", weights_only=True,
                                            mmap=True)["global_step"])
    metrics["device"] = str(device)
    # undefined metrics (NaN) are written as null, as tools/eval.py does: the file stays valid JSON
    atomic_write_text(Path(run_dir) / "metrics.json", json.dumps(finite_or_null(metrics), indent=1, allow_nan=False))
    plot_curves(sorted((Path(run_dir) / "logs").glob("version_*/metrics.csv")), Path(run_dir) / "curves.png")
    return metrics
