"""Optimisation and trainer settings (plain frozen dataclasses; tools/ fill them from YAML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LOGGERS = ("csv", "tensorboard", "wandb")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with two learning rates (new modules vs pre-trained ones), warm-up then cosine."""

    lr_new: float = 1e-4
    lr_pretrained: float = 1e-5
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_fraction: float = 0.05  # of the total steps; VGGT's fine-tune recipe uses 5 %
    min_lr_ratio: float = 1e-3  # cosine floor as a fraction of the peak rate
    grad_clip: float = 1.0


@dataclass(frozen=True)
class PromptTrainingConfig:
    """Click prompts sampled from ground-truth instances during training."""

    prompts_per_scene: int = 4
    max_positive: int = 3
    max_negative: int = 2
    max_views: int = 2


@dataclass(frozen=True)
class TrainerConfig:
    """What Lightning's Trainer needs; `precision: auto` = bf16-mixed on GPU, fp32 on CPU.

    Checkpoints: `last.ckpt` (every `checkpoint_every_n_steps` and at the end), `best.ckpt` (highest
    val/ap50, when validation runs) and the newest `keep_checkpoints` periodic ones under
    checkpoints/ (0 = none). logger: any of LOGGERS (wandb needs the wandb package; offline with
    WANDB_MODE=offline). extra: further Lightning Trainer arguments, passed through as given
    (e.g. {accumulate_grad_batches: 2}); names are checked against Trainer's signature.
    """

    max_steps: int = 1000
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    log_every_n_steps: int = 10
    val_every_n_steps: int = 200
    limit_val_batches: int = 4
    checkpoint_every_n_steps: int = 100
    num_sanity_val_steps: int = 0
    seed: int = 0
    threads: int = 0  # torch CPU threads; 0 = leave torch's default
    keep_checkpoints: int = 2
    logger: tuple[str, ...] = ("csv", "tensorboard")
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"trainer.max_steps must be >= 1, got {self.max_steps}")
        if self.keep_checkpoints < 0:
            raise ValueError(f"trainer.keep_checkpoints must be >= 0 (0 = only last.ckpt and best.ckpt), got {self.keep_checkpoints}")
        unknown = sorted(set(self.logger) - set(LOGGERS))
        if unknown:
            raise ValueError(f"trainer.logger: unknown logger(s) {unknown}; choose from {list(LOGGERS)}")
