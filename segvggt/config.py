"""The whole experiment as one frozen dataclass, composed of each part's own config.

`tools/` read `configs/*.yaml` into a dict and call `experiment_from_dict`; nothing here parses files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from segvggt.config_utils import ConfigError, dataclass_from_dict, dataclass_to_dict
from segvggt.data.classes import benchmark_classes
from segvggt.data.config import DataConfig
from segvggt.evaluation.config import EvalConfig
from segvggt.losses.config import LossConfig
from segvggt.segmentation.config import ModelConfig
from segvggt.training.config import OptimConfig, PromptTrainingConfig, TrainerConfig

GEOMETRY_SUPERVISION = ("gt", "teacher", "none")


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """Everything a run needs.

    geometry_supervision: "gt" = camera/depth losses against ground truth (synthetic data);
        "teacher" = against a frozen copy of the pre-trained backbone (the paper's choice);
        "none" = no geometry loss.
    pretrained: official VGGT checkpoint (model.pt / .safetensors) loaded into the backbone (and
        the teacher) before training; None = random initialisation.
    """

    name: str = "experiment"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    prompts: PromptTrainingConfig = field(default_factory=PromptTrainingConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    geometry_supervision: str = "gt"
    pretrained: str | None = None

    def __post_init__(self) -> None:
        if self.geometry_supervision not in GEOMETRY_SUPERVISION:
            raise ConfigError(
                f"geometry_supervision: {self.geometry_supervision!r} is not one of {GEOMETRY_SUPERVISION}"
            )
        if self.geometry_supervision == "teacher" and not self.pretrained:
            raise ConfigError("geometry_supervision 'teacher' needs `pretrained` (the VGGT checkpoint the teacher copies)")
        if self.loss.w_point > 0 and not ((self.model.backbone or {}).get("vggt") or {}).get("enable_point", True):
            raise ConfigError("loss.w_point > 0 trains the point head: set model.backbone.vggt.enable_point: true")
        num_classes = benchmark_classes(self.data.benchmark).num_classes
        if self.model.num_classes != num_classes:
            raise ConfigError(
                f"model.num_classes is {self.model.num_classes} but benchmark {self.data.benchmark!r} has "
                f"{num_classes} instance classes; set model.num_classes: {num_classes}"
            )


def experiment_from_dict(data: dict) -> ExperimentConfig:
    """Build an ExperimentConfig from a nested dict (e.g. parsed YAML); errors name the dotted key."""
    try:
        return dataclass_from_dict(ExperimentConfig, data)
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(str(err)) from err


def experiment_to_dict(cfg: ExperimentConfig) -> dict:
    return dataclass_to_dict(cfg)


__all__ = ["ExperimentConfig", "ConfigError", "experiment_from_dict", "experiment_to_dict", "replace"]
