"""`LossConfig`: every weight of SegVGGT's objective in one place.

The Hungarian matcher uses the SAME weights as the losses (w_class, w_bce, w_dice, w_fada), so a
change of emphasis moves both the assignment and the gradient.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class LossConfig:
    """Weights and switches of the set criterion and the geometry losses.

    Mask-set terms (Mask2Former defaults: class 2, mask 5, dice 5, no-object 0.1):
        w_class, w_bce, w_dice: classification / sigmoid BCE / dice weights (loss and matching cost).
        w_fada: frame-attention distribution alignment (FADA) weight (loss and matching cost).
        no_object_weight: class weight of the no-object index K in the cross-entropy.
        fada_in_cost: add the FADA term to the matching cost (when the mass is in the outputs).
        fada_loss: add `loss_fada` on matched pairs (when the mass is in the outputs).
        fada_frame_normalization: divide the frame-summed JS by S (one reading of the paper's
            "normalised by frames"); the cost and the loss always use the same definition. Off by
            default: divided by S the term is at most ln 2 / S, 0.3 % of the loss and 0.1 % of the
            matching cost's spread over queries at S = 8-12, and leaves the attention as uniform
            over frames as it starts; summed over frames (w_fada = 1) it scored a higher AP50 than
            divided by S on each of 3 seeds of the synthetic ablation (docs/fada_ablation.md).
        num_points: M, mask points per scene for costs and per matched pair for losses (0 = all
            pixels, no sampling); see point_sampling.py (Mask2Former's scheme).
        importance_sampling: loss points by uncertainty (oversample_ratio x M candidates, the
            importance_sample_ratio most uncertain, the rest uniform) instead of the cost's uniform points.
        points_per_instance: extra points drawn inside every ground-truth instance, added to the cost
            points and to the loss points of its matched pair, so small instances always count.
        deep_supervision: Mask2Former's auxiliary losses: the class and mask losses (not FADA, not the
            prompts) also on the object queries after every query block but the last, each block's
            predictions with their own matching, under the same weights (keys `loss_class_aux{i}`...).
    Prompt terms: w_prompt_bce, w_prompt_dice, w_prompt_score.
    Geometry (VGGT, training/loss.py defaults):
        w_camera, w_depth: weights of `loss_camera` and `loss_depth` (VGGT: 5 and 1).
        w_point: weight of `loss_point`, the depth loss's form on the camera-0-frame point map
            (world_points); 0 (VGGT's default objective) leaves the point head out of training.
        camera_gamma: stage weight gamma^(n-1-k) of camera-head iteration k.
        camera_w_translation, camera_w_rotation, camera_w_fov: component weights inside loss_camera.
        depth_gamma, depth_alpha: confidence term gamma*r*c - alpha*log(c).
        depth_valid_range: quantile kept by the outlier filter (<= 0 disables it).
        depth_grad_scales: scales of the multi-scale gradient term.
    """

    w_class: float = 2.0
    w_bce: float = 5.0
    w_dice: float = 5.0
    w_fada: float = 1.0
    no_object_weight: float = 0.1
    deep_supervision: bool = False
    fada_in_cost: bool = True
    fada_loss: bool = True
    fada_frame_normalization: bool = False  # measured: docs/fada_ablation.md
    num_points: int = 12544
    importance_sampling: bool = True
    oversample_ratio: float = 3.0
    importance_sample_ratio: float = 0.75
    points_per_instance: int = 128

    w_prompt_bce: float = 5.0
    w_prompt_dice: float = 5.0
    w_prompt_score: float = 1.0

    w_camera: float = 5.0
    w_depth: float = 1.0
    w_point: float = 0.0
    camera_gamma: float = 0.6
    camera_w_translation: float = 1.0
    camera_w_rotation: float = 1.0
    camera_w_fov: float = 0.5
    depth_gamma: float = 1.0
    depth_alpha: float = 0.2
    depth_valid_range: float = 0.98
    depth_grad_scales: int = 4

    def __post_init__(self) -> None:
        if self.num_points < 0:
            raise ValueError(f"LossConfig.num_points must be >= 0 (0 = all pixels), got {self.num_points}")
        if self.points_per_instance < 0:
            raise ValueError(f"LossConfig.points_per_instance must be >= 0, got {self.points_per_instance}")
        if self.oversample_ratio < 1.0 or not 0.0 <= self.importance_sample_ratio <= 1.0:
            raise ValueError(
                "LossConfig needs oversample_ratio >= 1 and importance_sample_ratio in [0, 1], got "
                f"{self.oversample_ratio} and {self.importance_sample_ratio}"
            )
        if not 0.0 < self.no_object_weight:
            raise ValueError(f"LossConfig.no_object_weight must be > 0, got {self.no_object_weight}")
        if self.depth_grad_scales < 1:
            raise ValueError(f"LossConfig.depth_grad_scales must be >= 1, got {self.depth_grad_scales}")

    def loss_weights(self) -> dict[str, float]:
        """Loss key -> weight; the single table `weighted_sum` applies."""
        return {
            "loss_class": self.w_class,
            "loss_bce": self.w_bce,
            "loss_dice": self.w_dice,
            "loss_fada": self.w_fada,
            "loss_prompt_bce": self.w_prompt_bce,
            "loss_prompt_dice": self.w_prompt_dice,
            "loss_prompt_score": self.w_prompt_score,
            "loss_camera": self.w_camera,
            "loss_depth": self.w_depth,
            "loss_point": self.w_point,
        }


def aux_base_key(key: str) -> str:
    """`loss_bce_aux3` -> `loss_bce`: an auxiliary (deep supervision) loss has its final loss's weight."""
    head, _, tail = key.rpartition("_aux")
    return head if head and tail.isdigit() else key
