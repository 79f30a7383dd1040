"""Click sampling for prompt training: which instance each prompt points at, and where the clicks go.

A prompt picks one 3D instance of the scene and clicks it on one or more views:
- positives lie inside the instance, drawn from its interior (pixels that survive at least half as
  many 3x3 erosions as the deepest pixel of that view) because clicks on a boundary are ambiguous;
  every chosen view gets at least one positive, and the first click of a prompt is positive;
- negatives lie outside it, drawn from a band around the instance (dilation by max(H, W) / 16)
  where they disambiguate most, or anywhere outside when the band is empty.
Clicks are (frame, x, y, positive) in input pixels, x = column, y = row (pixel centres at integers),
the prompt format of segvggt.segmentation. All randomness comes from the given torch.Generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from segvggt.types import InstanceTargets

Click = tuple[int, float, float, bool]

# Erosion depth is only needed to tell interior from boundary; deeper levels change nothing useful.
_MAX_EROSIONS = 32


def _randint(high: int, generator: torch.Generator | None) -> int:
    """Uniform integer in [0, high)."""
    return int(torch.randint(high, (1,), generator=generator))


def interior_depth(mask: Tensor, max_iterations: int = _MAX_EROSIONS) -> Tensor:
    """mask [V, H, W] bool -> [V, H, W] int: how many 3x3 erosions each pixel survives (0 outside)."""
    current = mask.float()[:, None]
    depth = torch.zeros(mask.shape, dtype=torch.int64)
    for _ in range(max_iterations):
        if not bool(current.any()):
            break
        depth += current[:, 0].long()
        current = -F.max_pool2d(-current, kernel_size=3, stride=1, padding=1)
    return depth


def _pick(candidates: Tensor, count: int, generator: torch.Generator | None) -> Tensor:
    """candidates [H, W] bool -> up to `count` distinct (row, col) pairs [c, 2], uniformly."""
    coords = candidates.nonzero()
    order = torch.randperm(coords.shape[0], generator=generator)[:count]
    return coords[order]


def _clicks_for_instance(
    mask: Tensor,
    max_positive: int,
    max_negative: int,
    max_views: int,
    generator: torch.Generator | None,
) -> list[Click]:
    """mask [S, H, W] bool of one instance -> clicks of one prompt (first one positive)."""
    S, H, W = mask.shape
    visible = mask.flatten(1).any(dim=1).nonzero()[:, 0]
    n_pos = 1 + _randint(max_positive, generator)
    n_views = 1 + _randint(min(max_views, visible.numel(), n_pos), generator)
    views = visible[torch.randperm(visible.numel(), generator=generator)[:n_views]]
    positives_per_view = torch.ones(n_views, dtype=torch.int64)
    for _ in range(n_pos - n_views):
        positives_per_view[_randint(n_views, generator)] += 1

    view_masks = mask[views]  # [V, H, W]
    depth = interior_depth(view_masks)
    radius = max(1, max(H, W) // 16)
    dilated = F.max_pool2d(view_masks.float()[:, None], 2 * radius + 1, stride=1, padding=radius)[:, 0] > 0

    positives: list[Click] = []
    for i, view in enumerate(views.tolist()):
        interior = depth[i] >= (int(depth[i].max()) + 1) // 2
        for row, col in _pick(interior, int(positives_per_view[i]), generator).tolist():
            positives.append((view, float(col), float(row), True))

    negatives: list[Click] = []
    n_neg = _randint(max_negative + 1, generator)
    negatives_per_view = torch.zeros(n_views, dtype=torch.int64)
    for _ in range(n_neg):
        negatives_per_view[_randint(n_views, generator)] += 1
    for i, view in enumerate(views.tolist()):
        if negatives_per_view[i] == 0:
            continue
        band = dilated[i] & ~view_masks[i]
        candidates = band if bool(band.any()) else ~view_masks[i]
        for row, col in _pick(candidates, int(negatives_per_view[i]), generator).tolist():
            negatives.append((view, float(col), float(row), False))

    rest = positives[1:] + negatives
    order = torch.randperm(len(rest), generator=generator).tolist()
    return [positives[0]] + [rest[j] for j in order]


def sample_prompts(
    instance_ids: Tensor,
    targets: InstanceTargets,
    num_prompts: int,
    max_positive: int = 3,
    max_negative: int = 2,
    max_views: int = 2,
    generator: torch.Generator | None = None,
) -> tuple[list[list[Click]], Tensor]:
    """Sample click prompts of one scene and the instance each one points at.

    Args:
        instance_ids: [S, H, W] int64 instance id per input pixel (0 = none), same ids as
            targets.instance_ids.
        targets: the scene's InstanceTargets (N instances).
        num_prompts: R wanted; R = min(num_prompts, N) distinct instances are prompted.
        max_positive: 1..max_positive positive clicks per prompt (uniform).
        max_negative: 0..max_negative negative clicks per prompt (uniform).
        max_views: a prompt clicks 1..min(max_views, visible views, positives) views (uniform).
        generator: seeded torch.Generator (CPU) for reproducible prompts.
    Returns:
        prompts: R lists of clicks (frame, x, y, positive); prompt_targets: [R] int64 indices into
        targets (the `prompt_targets` entry of this scene for SetCriterion).
    """
    if instance_ids.dim() != 3:
        raise ValueError(f"sample_prompts: instance_ids must be [S, H, W], got {tuple(instance_ids.shape)}")
    if max_positive < 1 or max_views < 1 or max_negative < 0 or num_prompts < 0:
        raise ValueError(
            "sample_prompts: need num_prompts >= 0, max_positive >= 1, max_views >= 1, max_negative >= 0; "
            f"got {num_prompts}, {max_positive}, {max_views}, {max_negative}"
        )
    ids = instance_ids.cpu()
    R = min(num_prompts, targets.num_instances)
    chosen = torch.randperm(targets.num_instances, generator=generator)[:R]
    prompts = []
    for n in chosen.tolist():
        inst = int(targets.instance_ids[n])
        mask = ids == inst
        if not bool(mask.any()):
            raise ValueError(
                f"sample_prompts: target {n} (instance id {inst}) has no pixel in instance_ids; "
                "build targets and instance_ids from the same views"
            )
        prompts.append(_clicks_for_instance(mask, max_positive, max_negative, max_views, generator))
    return prompts, chosen.to(torch.int64)
