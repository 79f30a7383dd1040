"""Mask losses and their pairwise cost matrices, on shared random points.

A query's masks on all S views are flattened into ONE vector of S*h*w pixels: one 3D instance seen
in several views is one target. For memory, every query and target of a scene is compared on the
same uniformly sampled flat pixel indices (Mask2Former's shared points, without grid_sample).

Dice is Laplace-smoothed: 1 - (2 sum(p t) + 1) / (sum p + sum t + 1), p = sigmoid(logit).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def sample_point_indices(
    num_pixels: int, num_points: int, device: torch.device | str, generator: torch.Generator | None = None
) -> Tensor | None:
    """Uniform random flat pixel indices shared by all queries and targets of a scene.

    Args:
        num_pixels: S*h*w, the length of a flattened multi-view mask.
        num_points: M, how many to draw (with replacement); 0 or >= num_pixels means all pixels.
        generator: optional seeded generator (its device is used for drawing).
    Returns:
        [M] int64 on `device`, or None for "all pixels".
    """
    if num_points <= 0 or num_points >= num_pixels:
        return None
    draw_device = generator.device if generator is not None else device
    idx = torch.randint(num_pixels, (num_points,), generator=generator, device=draw_device)
    return idx.to(device)


def flatten_points(masks: Tensor, point_indices: Tensor | None) -> Tensor:
    """[X, S, h, w] multi-view masks -> [X, M] values at the shared flat indices (M = S*h*w if None)."""
    flat = masks.flatten(1)
    return flat if point_indices is None else flat[:, point_indices]


def sigmoid_bce_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Per-pair sigmoid BCE.

    Args:
        logits: [X, M] mask logits on points.
        targets: [X, M] {0, 1} (or soft) targets.
    Returns:
        [X] mean over the M points.
    """
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(dim=-1)


def dice_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Per-pair Laplace-smoothed dice loss.

    Args:
        logits: [X, M] mask logits on points.
        targets: [X, M] {0, 1} targets.
    Returns:
        [X] 1 - (2 sum(p t) + 1) / (sum p + sum t + 1).
    """
    p = logits.sigmoid()
    numerator = 2 * (p * targets).sum(dim=-1) + 1
    denominator = p.sum(dim=-1) + targets.sum(dim=-1) + 1
    return 1 - numerator / denominator


def batch_sigmoid_bce_cost(logits: Tensor, targets: Tensor) -> Tensor:
    """Pairwise sigmoid BCE: cost[q, n] = sigmoid_bce_loss(logits[q], targets[n]).

    Args:
        logits: [Q, M] query mask logits on points.
        targets: [N, M] instance masks on the same points.
    Returns:
        [Q, N]
    """
    num_points = logits.shape[-1]
    # BCE(x, t) = t * softplus(-x) + (1 - t) * softplus(x): two matmuls instead of Q*N*M terms.
    pos = F.softplus(-logits)
    neg = F.softplus(logits)
    return (pos @ targets.T + neg @ (1 - targets).T) / num_points


def batch_dice_cost(logits: Tensor, targets: Tensor) -> Tensor:
    """Pairwise dice: cost[q, n] = dice_loss(logits[q], targets[n]).

    Args:
        logits: [Q, M] query mask logits on points.
        targets: [N, M] instance masks on the same points.
    Returns:
        [Q, N]
    """
    p = logits.sigmoid()
    numerator = 2 * (p @ targets.T) + 1
    denominator = p.sum(dim=-1)[:, None] + targets.sum(dim=-1)[None, :] + 1
    return 1 - numerator / denominator
