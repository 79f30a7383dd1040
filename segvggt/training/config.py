"""Optimisation and trainer settings (plain frozen dataclasses; tools/ fill them from YAML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segvggt.config_utils import ConfigError

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

    def __post_init__(self) -> None:
        if not (self.lr_new >= 0 and self.lr_pretrained >= 0 and self.weight_decay >= 0 and self.grad_clip >= 0):
            raise ConfigError("optim: lr_new, lr_pretrained, weight_decay and grad_clip must be >= 0")
        if not 0 <= self.warmup_fraction < 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError("optim: warmup_fraction must lie in [0, 1) and min_lr_ratio in [0, 1]")
        if not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"optim.betas must lie in [0, 1), got {list(self.betas)}")


@dataclass(frozen=True)
class PromptTrainingConfig:
    """Click prompts sampled from ground-truth instances during training.

    max_views: views the clicks of one prompt are spread over; 0 = every view where the object covers
    >= 0.1 % of the image (the evaluation's MV-SAM protocol)."""

    prompts_per_scene: int = 4
    max_positive: int = 3
    max_negative: int = 2
    max_views: int = 2

    def __post_init__(self) -> None:
        if self.prompts_per_scene < 0 or self.max_positive < 0 or self.max_negative < 0 or self.max_views < 0:
            raise ConfigError("prompts: prompts_per_scene, max_positive, max_negative and max_views (0 = every "
                              "view) must be >= 0")


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
        for name in ("max_steps", "num_nodes", "log_every_n_steps", "val_every_n_steps", "checkpoint_every_n_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("limit_val_batches", "num_sanity_val_steps", "threads", "keep_checkpoints"):
            if getattr(self, name) < 0:
                raise ConfigError(f"trainer.{name} must be >= 0, got {getattr(self, name)}")
        unknown = sorted(set(self.logger) - set(LOGGERS))
        if unknown:
            raise ConfigError(f"trainer.logger: unknown logger(s) {unknown}; choose from {list(LOGGERS)}")
