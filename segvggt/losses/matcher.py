"""Hungarian matching of object queries to 3D instances, one scene at a time.

cost[q, n] = w_class * (-p_q(label_n)) + w_bce * BCE + w_dice * dice + w_fada * FADA,
with the masks of all views flattened into one vector per query / instance and compared on shared
random points. The FADA term (see fada.py) is added only when `fada_in_cost` is on and the outputs
carry `frame_attention_mass`. Runs in float32 with autocast off, without gradients.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from segvggt.losses.config import LossConfig
from segvggt.losses.fada import fada_cost
from segvggt.losses.mask_losses import (
    batch_dice_cost,
    batch_sigmoid_bce_cost,
    flatten_points,
    sample_point_indices,
)
from segvggt.types import InstanceTargets

logger = logging.getLogger(__name__)

# Stand-in for non-finite costs so that scipy still returns an assignment (they are logged).
_BIG_COST = 1e8


def check_mask_shapes(pred_masks: Tensor, targets: Sequence[InstanceTargets]) -> None:
    """Raise one clear ValueError when targets do not fit pred_masks [B, Q, S, h, w]."""
    if pred_masks.dim() != 5:
        raise ValueError(f"pred_masks must be [B, Q, S, h, w], got shape {tuple(pred_masks.shape)}")
    if len(targets) != pred_masks.shape[0]:
        raise ValueError(f"got {len(targets)} InstanceTargets for a batch of B={pred_masks.shape[0]} scenes")
    for b, t in enumerate(targets):
        if t.num_instances and tuple(t.masks.shape[1:]) != tuple(pred_masks.shape[2:]):
            raise ValueError(
                f"scene {b}: target masks [N, S, h, w] = {tuple(t.masks.shape)} do not match pred_masks "
                f"[S, h, w] = {tuple(pred_masks.shape[2:])}; build targets at (H/2, W/2) for the same views"
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
    def scene_cost(
        self,
        pred_logits: Tensor,
        pred_masks: Tensor,
        target: InstanceTargets,
        frame_attention_mass: Tensor | None = None,
        point_indices: Tensor | None = None,
    ) -> Tensor:
        """Matching cost of one scene.

        Args:
            pred_logits: [Q, K+1] class logits.
            pred_masks: [Q, S, h, w] mask logits.
            target: the scene's N instances (masks [N, S, h, w]).
            frame_attention_mass: [L, Q, S] or None.
            point_indices: [M] shared flat indices into S*h*w, or None for all pixels.
        Returns:
            [Q, N] float32 cost.
        """
        cfg = self.cfg
        prob = pred_logits.float().softmax(dim=-1)
        cost = -cfg.w_class * prob[:, target.labels]
        q_points = flatten_points(pred_masks.float(), point_indices)
        t_points = flatten_points(target.masks.float(), point_indices)
        cost = cost + cfg.w_bce * batch_sigmoid_bce_cost(q_points, t_points)
        cost = cost + cfg.w_dice * batch_dice_cost(q_points, t_points)
        if cfg.fada_in_cost and frame_attention_mass is not None:
            fada = fada_cost(
                frame_attention_mass.float(),
                target.visibility.float(),
                cfg.fada_frame_normalization,
            )
            cost = cost + cfg.w_fada * fada
        return cost

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
            outputs: `pred_logits` [B, Q, K+1], `pred_masks` [B, Q, S, h, w], optionally
                `frame_attention_mass` [L, B, Q, S].
            targets: B InstanceTargets.
            point_indices: per scene [M] shared flat indices (None entries = all pixels); drawn
                here with `cfg.num_points` and `generator` when not given.
        Returns:
            B pairs (pred_idx [min(Q, N)], tgt_idx [min(Q, N)]) of int64 CPU tensors; empty for N = 0.
        """
        pred_logits, pred_masks = outputs["pred_logits"], outputs["pred_masks"]
        check_mask_shapes(pred_masks, targets)
        mass = frame_mass_of(outputs)
        indices = []
        with torch.autocast(device_type=pred_masks.device.type, enabled=False):
            for b, target in enumerate(targets):
                if target.num_instances == 0:
                    empty = torch.empty(0, dtype=torch.int64)
                    indices.append((empty, empty.clone()))
                    continue
                if point_indices is not None:
                    points = point_indices[b]
                else:
                    num_pixels, device = pred_masks[b, 0].numel(), pred_masks.device
                    points = sample_point_indices(num_pixels, self.cfg.num_points, device, generator)
                cost = self.scene_cost(
                    pred_logits[b], pred_masks[b], target, None if mass is None else mass[:, b], points
                )
                if not torch.isfinite(cost).all():
                    logger.warning("scene %d: non-finite matching cost entries replaced by %g", b, _BIG_COST)
                    cost = torch.nan_to_num(cost, nan=_BIG_COST, posinf=_BIG_COST, neginf=-_BIG_COST)
                rows, cols = linear_sum_assignment(cost.cpu().numpy())
                pair = (torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64))
                indices.append(pair)
        return indices
