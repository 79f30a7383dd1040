"""Click prompts: which objects are prompted and where the clicks go, ONE rule for training and evaluation.

The evaluation follows MV-SAM's multi-view protocol (10 positive + 2 negative clicks sampled across
views, objects of at least 0.1 % of the image, random objects per scene, seeded), and training draws
its clicks from exactly the same distribution (`sample_prompts` and the evaluation's
`segvggt.evaluation.prompt_metrics.seeded_clicks` both call `place_clicks`):

- eligible object: covers at least `min_area_fraction` (0.1 %) of the pixels of at least one view;
  its eligible views are those where it does;
- views: a random permutation of the eligible views (at most `max_views` of them, 0 = all); click k
  goes to view k mod V, positives first, then the negatives continue the round-robin, so clicks are
  spread over as many views as there are clicks;
- a positive is drawn uniformly from the object's interior in that view: pixels that survive more
  than half as many 3x3 erosions as the deepest pixel of the view (clicks on a boundary are
  ambiguous; an object one or two pixels thin keeps all its pixels);
- a negative is drawn uniformly from the pixels outside the object in that view;
- within a view clicks are distinct while candidates last, then repeat (a tiny object still gets its
  10 clicks); only a view the object fills completely gets no negative.

Clicks are (frame, x, y, positive) in input pixels, x = column, y = row (pixel centres at integers),
the prompt format of segvggt.segmentation; positives come first. All randomness comes from the given
torch.Generator.
"""

from __future__ import annotations

import torch
from torch import Tensor

from segvggt.types import InstanceTargets

Click = tuple[int, float, float, bool]

# Erosion depth is only needed to tell interior from boundary; deeper levels change nothing useful.
_MAX_EROSIONS = 32
MIN_AREA_FRACTION = 0.001  # MV-SAM: objects of at least 0.1 % of the image


def interior_depth(mask: Tensor, max_iterations: int = _MAX_EROSIONS) -> Tensor:
    """mask [V, H, W] bool -> [V, H, W] int64 on mask's device: how many 3x3 erosions each pixel
    survives (0 outside).

    The erosions run inside the mask's bounding box over all views plus a one-pixel margin: the pixels
    outside it are background and stay 0, and the margin gives the box's edge pixels the same
    neighbours as in the whole image (at the image border there is no neighbour, so nothing erodes).
    """
    V, H, W = mask.shape
    depth = torch.zeros(mask.shape, dtype=torch.int64, device=mask.device)
    rows = mask.any(2).any(0).nonzero()[:, 0]
    if rows.numel() == 0:
        return depth
    cols = mask.any(1).any(0).nonzero()[:, 0]
    r0, r1 = max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, H)
    c0, c1 = max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, W)
    current = mask[:, r0:r1, c0:c1].clone()  # [V, h, w] crop
    box = torch.zeros(current.shape, dtype=torch.uint8, device=mask.device)  # <= 32 erosions fit uint8
    for _ in range(max_iterations):
        if not bool(current.any()):
            break
        box += current
        current = _erode(current)
    depth[:, r0:r1, c0:c1] = box
    return depth


def _erode(mask: Tensor) -> Tensor:
    """[V, h, w] bool -> one 3x3 erosion, the minimum over each pixel's in-image neighbours (so the image
    border erodes nothing), as the row minimum of the column minimum: a 3x3 square is separable."""
    rows = mask.clone()
    rows[:, 1:] &= mask[:, :-1]
    rows[:, :-1] &= mask[:, 1:]
    out = rows.clone()
    out[:, :, 1:] &= rows[:, :, :-1]
    out[:, :, :-1] &= rows[:, :, 1:]
    return out


def _covers(area: Tensor, pixels: int, min_area_fraction: float) -> Tensor:
    """Pixel counts [...] -> bool [...]: visible and at least min_area_fraction of an image of `pixels`."""
    return (area > 0) & (area >= min_area_fraction * pixels)


def eligible_views(mask: Tensor, min_area_fraction: float = MIN_AREA_FRACTION) -> Tensor:
    """mask [S, H, W] bool of one object -> [S] bool: views where it covers >= min_area_fraction of the image."""
    S, H, W = mask.shape
    return _covers(mask.flatten(1).sum(1), H * W, min_area_fraction)


def instance_view_areas(instance_ids: Tensor, ids: Tensor) -> Tensor:
    """instance_ids [S, H, W] int (any device), ids [N] instance ids -> [N, S] int64 pixel counts (CPU).

    One histogram per view on instance_ids' device (a GPU batch is never copied to the host): by
    bincount over the ids' range when it is small, else over the sorted distinct ids.
    """
    S = instance_ids.shape[0]
    flat = instance_ids.reshape(S, -1).long()
    ids = ids.to(device=flat.device, dtype=torch.int64)
    if ids.numel() == 0:
        return torch.zeros(0, S, dtype=torch.int64)
    low, high = int(flat.min()), int(flat.max())
    if low >= 0 and (high + 1) * S <= 1 << 26:
        values = torch.arange(high + 1, device=flat.device)
        index = flat
    else:
        values, index = torch.unique(flat, return_inverse=True)  # values sorted [U], index [S, HW]
    U = values.numel()
    offsets = torch.arange(S, device=flat.device)[:, None] * U
    counts = torch.bincount((index + offsets).flatten(), minlength=S * U).view(S, U)  # [S, U]
    at = torch.searchsorted(values, ids).clamp(max=U - 1)  # [N]
    found = values[at] == ids
    return (counts[:, at].T * found[:, None]).cpu()


def eligible_instances(instance_ids: Tensor, ids: Tensor, min_area_fraction: float = MIN_AREA_FRACTION) -> Tensor:
    """instance_ids [S, H, W] int, ids [N] candidate instance ids -> [N] bool (CPU): eligible for a prompt."""
    S, H, W = instance_ids.shape
    return _covers(instance_view_areas(instance_ids, ids), H * W, min_area_fraction).any(1)  # [N, S] -> [N]


def _pick(candidates: Tensor, count: int, generator: torch.Generator | None) -> Tensor:
    """candidates [H, W] bool (any device) -> `count` (row, col) pairs [count, 2] (CPU) drawn uniformly,
    distinct while the candidates last and then cycling through them again (none if there is no
    candidate). The permutation is drawn on the CPU generator, so every device draws the same clicks."""
    coords = candidates.nonzero()
    if coords.shape[0] == 0:
        return coords.cpu()
    order = torch.randperm(coords.shape[0], generator=generator)
    return coords[order[torch.arange(count) % coords.shape[0]].to(coords.device)].cpu()


def place_clicks(
    mask: Tensor,
    num_positive: int,
    num_negative: int,
    generator: torch.Generator | None = None,
    max_views: int = 0,
    min_area_fraction: float = MIN_AREA_FRACTION,
) -> list[Click]:
    """Clicks of one prompt on one object (the module docstring's rule).

    Args:
        mask: [S, H, W] bool, the object in every view.
        num_positive / num_negative: clicks per prompt (fewer negatives only where the object fills a view).
        max_views: at most this many views get clicks (0 = every eligible view).
    Returns:
        positives then negatives, each (frame, x, y, positive). Views where the object is visible
        but below `min_area_fraction` are used only if no view reaches it.
    """
    if mask.dim() != 3:
        raise ValueError(f"place_clicks: mask must be [S, H, W], got {tuple(mask.shape)}")
    mask = mask.bool()  # stays on its device; only the drawn clicks come to the host
    eligible = eligible_views(mask, min_area_fraction).cpu()
    if not bool(eligible.any()):
        eligible = mask.flatten(1).any(1).cpu()
    candidates = eligible.nonzero()[:, 0]
    if candidates.numel() == 0:
        raise ValueError("place_clicks: the object has no pixel in any view")
    views = candidates[torch.randperm(candidates.numel(), generator=generator)]
    if max_views > 0:
        views = views[:max_views]
    V = views.numel()
    per_view = torch.zeros(V, 2, dtype=torch.int64)  # [V, (positives, negatives)]
    for k in range(num_positive + num_negative):
        per_view[k % V, int(k >= num_positive)] += 1
    depth = interior_depth(mask[views.to(mask.device)])
    positives: list[Click] = []
    negatives: list[Click] = []
    for i, view in enumerate(views.tolist()):
        interior = depth[i] > int(depth[i].max()) // 2
        for row, col in _pick(interior, int(per_view[i, 0]), generator).tolist():
            positives.append((view, float(col), float(row), True))
        for row, col in _pick(~mask[view], int(per_view[i, 1]), generator).tolist():
            negatives.append((view, float(col), float(row), False))
    return positives + negatives


def sample_prompts(
    instance_ids: Tensor,
    targets: InstanceTargets,
    num_prompts: int,
    max_positive: int = 10,
    max_negative: int = 2,
    max_views: int = 0,
    generator: torch.Generator | None = None,
    min_area_fraction: float = MIN_AREA_FRACTION,
) -> tuple[list[list[Click]], Tensor]:
    """Training prompts of one scene, drawn like the evaluation's (module docstring), and their targets.

    Args:
        instance_ids: [S, H, W] int64 instance id per input pixel (0 = none), same ids as
            targets.instance_ids; on any device (the work runs there, the clicks are the same).
        targets: the scene's InstanceTargets (N instances).
        num_prompts: R wanted; R = min(num_prompts, eligible instances) distinct eligible instances,
            chosen uniformly at random.
        max_positive / max_negative: positive / negative clicks per prompt (exactly, like the
            evaluation's 10 + 2). The `max_` names are those of PromptTrainingConfig.
        max_views: a prompt clicks at most this many eligible views (0 = all, as the evaluation).
        generator: seeded torch.Generator (CPU) for reproducible prompts.
    Returns:
        prompts: R lists of clicks (frame, x, y, positive); prompt_targets: [R] int64 indices into
        targets (the `prompt_targets` entry of this scene for SetCriterion).
    """
    if instance_ids.dim() != 3:
        raise ValueError(f"sample_prompts: instance_ids must be [S, H, W], got {tuple(instance_ids.shape)}")
    if max_positive < 1 or max_views < 0 or max_negative < 0 or num_prompts < 0:
        raise ValueError(
            "sample_prompts: need num_prompts >= 0, max_positive >= 1, max_views >= 0, max_negative >= 0; "
            f"got {num_prompts}, {max_positive}, {max_views}, {max_negative}"
        )
    S, H, W = instance_ids.shape
    target_ids = targets.instance_ids.cpu()
    area = instance_view_areas(instance_ids, target_ids)  # [N, S], on the ids' device, then CPU
    present = area.sum(1) > 0
    if not bool(present.all()):
        n = int((~present).nonzero()[0, 0])
        raise ValueError(
            f"sample_prompts: target {n} (instance id {int(target_ids[n])}) has no pixel in "
            "instance_ids; build targets and instance_ids from the same views"
        )
    eligible = _covers(area, H * W, min_area_fraction).any(1).nonzero()[:, 0]
    R = min(num_prompts, eligible.numel())
    chosen = eligible[torch.randperm(eligible.numel(), generator=generator)[:R]]
    prompts = [
        place_clicks(instance_ids == int(target_ids[n]), max_positive, max_negative, generator, max_views,
                     min_area_fraction)
        for n in chosen.tolist()
    ]  # fmt: skip
    return prompts, chosen.to(torch.int64)
