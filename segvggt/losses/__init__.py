"""SegVGGT's losses: Hungarian matching with FADA, set criterion, prompt losses, VGGT geometry losses.

Pure torch (no Lightning). Weights live in `LossConfig`; `SetCriterion.weighted_sum` (or the
function `weighted_sum`) is the one place they are applied.
"""

from segvggt.losses.config import LossConfig
from segvggt.losses.criterion import SetCriterion, weighted_sum
from segvggt.losses.fada import fada_cost, fada_loss, js_divergence
from segvggt.losses.geometry_losses import camera_loss, camera_loss_from_encoding, depth_loss, geometry_losses
from segvggt.losses.mask_losses import batch_dice_cost, batch_sigmoid_bce_cost, dice_loss, sigmoid_bce_loss
from segvggt.losses.matcher import HungarianMatcher
from segvggt.losses.normalization import (
    GeometryTargets,
    ground_truth_targets,
    normalize_scene,
    normalize_targets,
    teacher_targets,
)
from segvggt.losses.prompt_clicks import sample_prompts

__all__ = [
    "GeometryTargets",
    "HungarianMatcher",
    "LossConfig",
    "SetCriterion",
    "batch_dice_cost",
    "batch_sigmoid_bce_cost",
    "camera_loss",
    "camera_loss_from_encoding",
    "depth_loss",
    "dice_loss",
    "fada_cost",
    "fada_loss",
    "geometry_losses",
    "ground_truth_targets",
    "js_divergence",
    "normalize_scene",
    "normalize_targets",
    "sample_prompts",
    "sigmoid_bce_loss",
    "teacher_targets",
    "weighted_sum",
]
