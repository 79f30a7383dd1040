"""Where mask costs and losses are evaluated: Mask2Former's point sampling on flattened multi-view masks.

A query's masks on the S views are one vector of P = S*h*w pixels (one 3D instance = one target), and
points are flat indices into it. Mask2Former (Cheng et al., 2022, Sec. 3.3 / its `criterion.py`):

- matching cost: the same uniform random points for every query and every target of a scene;
- loss: per matched pair, importance sampling from PointRend: draw `oversample_ratio * M` uniform
  points, keep the `importance_sample_ratio * M` most uncertain ones (smallest |logit|), fill up to M
  with uniform points.

At S = 24 views of 259 x 259 mask pixels, M = 12,544 points are ~0.8 % of the pixels and a small
instance can get no point at all, so its cost would not depend on any query. We therefore add
`points_per_instance` points drawn inside every ground-truth instance: to the shared cost points and
to the loss points of the pair matched to that instance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def _draw_device(generator: torch.Generator | None, device: torch.device | str) -> torch.device | str:
    return generator.device if generator is not None else device


def uniform_points(
    num_pixels: int, num_points: int, device: torch.device | str, generator: torch.Generator | None = None
) -> Tensor:
    """[M] int64 uniform random flat pixel indices (with replacement) on `device`."""
    idx = torch.randint(num_pixels, (num_points,), generator=generator, device=_draw_device(generator, device))
    return idx.to(device)


def instance_points(masks: Tensor, per_instance: int, generator: torch.Generator | None = None) -> Tensor:
    """Uniform random pixels inside each instance.

    Args:
        masks: [N, P] {0, 1} flattened instance masks (every row has at least one pixel).
        per_instance: k points per instance (with replacement).
    Returns:
        [N, k] int64 flat indices on masks' device; an empty row gets random pixels of the whole image.
    """
    N, P = masks.shape
    device = masks.device
    out = torch.empty(N, per_instance, dtype=torch.int64, device=device)
    u = torch.rand(N, per_instance, generator=generator, device=_draw_device(generator, device)).to(device)
    for n in range(N):  # N instances (tens); the pixel work is vectorised
        pixels = torch.nonzero(masks[n] > 0.5).squeeze(1)
        count = pixels.numel()
        if count == 0:
            out[n] = (u[n] * P).long().clamp(max=P - 1)
        else:
            out[n] = pixels[(u[n] * count).long().clamp(max=count - 1)]
    return out


def importance_points(
    logits: Tensor,
    num_points: int,
    oversample_ratio: float = 3.0,
    importance_sample_ratio: float = 0.75,
    generator: torch.Generator | None = None,
) -> Tensor:
    """PointRend / Mask2Former uncertainty sampling, one point set per row.

    Args:
        logits: [X, P] mask logits of X masks on all P pixels (used without gradient).
        num_points: M points per row.
    Returns:
        [X, M] int64 flat indices: the int(importance_sample_ratio * M) most uncertain of
        int(oversample_ratio * M) uniform candidates (uncertainty = -|logit|), then uniform points.
    """
    X, P = logits.shape
    device = logits.device
    num_sampled = max(1, int(round(oversample_ratio * num_points)))
    num_uncertain = min(num_sampled, int(importance_sample_ratio * num_points))
    num_random = num_points - num_uncertain
    draw = _draw_device(generator, device)
    candidates = torch.randint(P, (X, num_sampled), generator=generator, device=draw).to(device)
    with torch.no_grad():
        uncertainty = -logits.detach().gather(1, candidates).abs()
        top = uncertainty.topk(num_uncertain, dim=1).indices
    chosen = candidates.gather(1, top)
    if num_random > 0:
        chosen = torch.cat([chosen, torch.randint(P, (X, num_random), generator=generator, device=draw).to(device)], 1)
    return chosen


@dataclass(frozen=True)
class ScenePoints:
    """The points of one scene: `uniform` [M] shared by all queries and targets (None = all pixels)
    and `per_instance` [N, k] inside each ground-truth instance (None = none)."""

    uniform: Tensor | None
    per_instance: Tensor | None

    def shared(self) -> Tensor | None:
        """[M + N*k] cost points of the scene (None = all pixels)."""
        if self.uniform is None or self.per_instance is None or self.per_instance.numel() == 0:
            return self.uniform
        return torch.cat([self.uniform, self.per_instance.flatten()])


def scene_points(
    target_masks: Tensor, num_points: int, points_per_instance: int, generator: torch.Generator | None = None
) -> ScenePoints:
    """Cost points of one scene. target_masks: [N, P] flattened instance masks; num_points 0 = all pixels."""
    N, P = target_masks.shape
    if num_points <= 0 or num_points >= P:
        return ScenePoints(None, None)
    uniform = uniform_points(P, num_points, target_masks.device, generator)
    per_instance = instance_points(target_masks, points_per_instance, generator) if points_per_instance > 0 and N else None
    return ScenePoints(uniform, per_instance)
