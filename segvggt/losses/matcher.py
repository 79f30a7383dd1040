"""Hungarian matching of object queries to 3D instances, one scene at a time.

cost[q, n] = w_class * (-p_q(label_n)) + w_bce * BCE + w_dice * dice + w_fada * FADA,
with the masks of all views flattened into one vector per query / instance and compared on shared
points (uniform random pixels plus pixels inside every instance, see point_sampling.py). The FADA
term (see fada.py) is added only when `fada_in_cost` is on and the outputs carry
`frame_attention_mass`. Runs in float32 with autocast off, without gradients.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from segvggt.losses.config import LossConfig
from segvggt.losses.fada import fada_cost
from segvggt.losses.mask_logits import SceneMaskLogits
from segvggt.losses.mask_losses import batch_dice_cost, batch_sigmoid_bce_cost, flatten_points
from segvggt.losses.point_sampling import scene_points
from segvggt.types import InstanceTargets

logger = logging.getLogger(__name__)

# Stand-in for non-finite costs so that scipy still returns an assignment (they are logged).
_BIG_COST = 1e8


def check_mask_shapes(outputs: Mapping[str, Tensor] | Tensor, targets: Sequence[InstanceTargets]) -> None:
    """Raise one clear ValueError when targets do not fit the predicted masks ([B, Q, S, h, w] full
    masks, or embeddings with instance_features [B, S, D, h, w])."""
    if isinstance(outputs, Tensor):
        outputs = {"pred_masks": outputs}
    masks = outputs.get("pred_masks")
    if isinstance(masks, Tensor):
        if masks.dim() != 5:
            raise ValueError(f"pred_masks must be [B, Q, S, h, w], got shape {tuple(masks.shape)}")
        B, shape = masks.shape[0], tuple(masks.shape[2:])
    else:
        features = outputs.get("instance_features")
        if not isinstance(features, Tensor) or "pred_mask_embed" not in outputs:
            raise ValueError("outputs need pred_masks [B, Q, S, h, w] or pred_mask_embed + instance_features")
        B, shape = features.shape[0], (features.shape[1], *features.shape[3:])
    if len(targets) != B:
        raise ValueError(f"got {len(targets)} InstanceTargets for a batch of B={B} scenes")
    for b, t in enumerate(targets):
        if t.num_instances and tuple(t.masks.shape[1:]) != shape:
            raise ValueError(
                f"scene {b}: target masks [N, S, h, w] = {tuple(t.masks.shape)} do not match the predicted "
                f"[S, h, w] = {shape}; build targets at (H/2, W/2) for the same views"
            )


def frame_mass_of(outputs: Mapping[str, Tensor]) -> Tensor | None:
    """The [L, B, Q, S] frame attention mass when the outputs carry it, else None."""
    mass = outputs.get("frame_attention_mass")
    return mass if isinstance(mass, Tensor) else None


class HungarianMatcher(nn.Module):
    """Assigns each 3D instance to one query by minimising the total matching cost."""

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.cfg = cfg

    @torch.no_grad()
    def point_cost(
        self,
        pred_logits: Tensor,
        point_logits: Tensor,
        point_targets: Tensor,
        target: InstanceTargets,
        frame_attention_mass: Tensor | None = None,
    ) -> Tensor:
        """Matching cost of one scene from mask logits at shared points.

        Args:
            pred_logits: [Q, K+1] class logits.
            point_logits: [Q, M] mask logits at the scene's cost points.
            point_targets: [N, M] {0, 1} instance masks at the same points.
            target: the scene's N instances (labels, visibility).
            frame_attention_mass: [L, Q, S] or None.
        Returns:
            [Q, N] float32 cost.
        """
        cfg = self.cfg
        prob = pred_logits.float().softmax(dim=-1)
        cost = -cfg.w_class * prob[:, target.labels]
        q_points, t_points = point_logits.float(), point_targets.float()
        cost = cost + cfg.w_bce * batch_sigmoid_bce_cost(q_points, t_points)
        cost = cost + cfg.w_dice * batch_dice_cost(q_points, t_points)
        if cfg.fada_in_cost and frame_attention_mass is not None:
            fada = fada_cost(frame_attention_mass.float(), target.visibility.float(), cfg.fada_frame_normalization)
            cost = cost + cfg.w_fada * fada
        return cost

    @torch.no_grad()
    def scene_cost(
        self,
        pred_logits: Tensor,
        pred_masks: Tensor,
        target: InstanceTargets,
        frame_attention_mass: Tensor | None = None,
        point_indices: Tensor | None = None,
    ) -> Tensor:
        """Matching cost of one scene from full masks.

        Args:
            pred_logits: [Q, K+1]; pred_masks: [Q, S, h, w] mask logits; target: N instances
            (masks [N, S, h, w]); frame_attention_mass: [L, Q, S] or None; point_indices: [M] shared
            flat indices into S*h*w, or None for all pixels.
        Returns:
            [Q, N] float32 cost.
        """
        q_points = flatten_points(pred_masks, point_indices)
        t_points = flatten_points(target.masks, point_indices)
        return self.point_cost(pred_logits, q_points, t_points, target, frame_attention_mass)

    @torch.no_grad()
    def forward(
        self,
        outputs: Mapping[str, Tensor],
        targets: Sequence[InstanceTargets],
        point_indices: Sequence[Tensor | None] | None = None,
        generator: torch.Generator | None = None,
    ) -> list[tuple[Tensor, Tensor]]:
        """Match queries to instances in every scene.

        Args:
            outputs: `pred_logits` [B, Q, K+1] and either `pred_masks` [B, Q, S, h, w] or
                `pred_mask_embed` [B, Q, D] + `instance_features` [B, S, D, h, w]; optionally
                `frame_attention_mass` [L, B, Q, S].
            targets: B InstanceTargets.
            point_indices: per scene [M] shared flat indices (None entries = all pixels); drawn
                here (scene_points: uniform + per instance) when not given.
        Returns:
            B pairs (pred_idx [min(Q, N)], tgt_idx [min(Q, N)]) of int64 CPU tensors; empty for N = 0.
        """
        pred_logits = outputs["pred_logits"]
        check_mask_shapes(outputs, targets)
        mass = frame_mass_of(outputs)
        indices = []
        with torch.autocast(device_type=pred_logits.device.type, enabled=False):
            for b, target in enumerate(targets):
                if target.num_instances == 0:
                    empty = torch.empty(0, dtype=torch.int64)
                    indices.append((empty, empty.clone()))
                    continue
                target_flat = target.masks.flatten(1)
                if point_indices is not None:
                    points = point_indices[b]
                else:
                    cfg = self.cfg
                    points = scene_points(target_flat, cfg.num_points, cfg.points_per_instance, generator).shared()
                q_points = SceneMaskLogits(outputs, "pred", b).at(None, points)
                t_points = target_flat if points is None else target_flat[:, points]
                cost = self.point_cost(pred_logits[b], q_points, t_points, target, None if mass is None else mass[:, b])
                if not torch.isfinite(cost).all():
                    logger.warning("scene %d: non-finite matching cost entries replaced by %g", b, _BIG_COST)
                    cost = torch.nan_to_num(cost, nan=_BIG_COST, posinf=_BIG_COST, neginf=-_BIG_COST)
                rows, cols = linear_sum_assignment(cost.cpu().numpy())
                pair = (torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64))
                indices.append(pair)
        return indices
