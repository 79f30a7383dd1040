"""Instance targets of one sample: one 3D instance = one target across all S views.

The visibility distribution is what the FADA matching cost compares a query's per-frame
attention mass with: the instance's share of its visible (mask-resolution) pixels in each view.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from segvggt.data.classes import BenchmarkClasses
from segvggt.types import InstanceTargets

log = logging.getLogger(__name__)


def keep_instance_classes(
    instance_ids: Tensor, instance_labels: dict[int, int], classes: BenchmarkClasses
) -> tuple[Tensor, dict[int, int]]:
    """Zero the pixels of instances that are not of an instance class (or have no label).

    instance_ids: [S, H, W] int64 -> ([S, H, W] int64 with only instance-class ids left,
    {instance id: contiguous class index} of the kept ids).
    """
    ids = sorted(instance_labels)
    index = classes.index_of(np.array([instance_labels[i] for i in ids], dtype=np.int64)) if ids else []
    kept = {i: int(k) for i, k in zip(ids, index) if k >= 0}
    lut_size = int(max(int(instance_ids.max()) if instance_ids.numel() else 0, max(ids, default=0))) + 1
    lut = torch.zeros(lut_size, dtype=torch.int64)
    if kept:
        lut[torch.tensor(list(kept))] = torch.tensor(list(kept))
    unknown = set(torch.unique(instance_ids).tolist()) - set(ids) - {0}
    if unknown:
        log.debug("instance ids %s appear in the images but have no label; treated as background", sorted(unknown))
    return lut[instance_ids.clamp(min=0)], kept


def downsample_ids(instance_ids: Tensor, mask_hw: tuple[int, int]) -> Tensor:
    """[S, H, W] int64 -> [S, h, w] by centre-aligned nearest sampling (ids are never averaged)."""
    if tuple(instance_ids.shape[-2:]) == tuple(mask_hw):
        return instance_ids
    return F.interpolate(instance_ids[:, None].double(), size=mask_hw, mode="nearest-exact")[:, 0].long()


def build_targets(instance_ids: Tensor, class_of: dict[int, int], mask_hw: tuple[int, int]) -> InstanceTargets:
    """Targets from a clean instance image (only instance-class ids, see `keep_instance_classes`).

    Args:
        instance_ids: [S, H, W] int64, 0 = no instance.
        class_of: {instance id: contiguous class index}.
        mask_hw: (h, w), normally (H/2, W/2).
    Returns:
        InstanceTargets with labels [N], masks [N, S, h, w] float {0, 1}, visibility [N, S]
        (pixel share per view at mask resolution, rows sum to 1) and instance_ids [N], sorted by
        id. Instances without a pixel in any view at mask resolution are dropped.
    """
    small = downsample_ids(instance_ids, mask_hw)
    S = small.shape[0]
    present = [i for i in torch.unique(small).tolist() if i > 0 and i in class_of]
    if not present:
        return InstanceTargets(
            labels=torch.zeros(0, dtype=torch.int64),
            masks=torch.zeros(0, S, *mask_hw),
            visibility=torch.zeros(0, S),
            instance_ids=torch.zeros(0, dtype=torch.int64),
        )
    ids = torch.tensor(present, dtype=torch.int64)
    masks = (small[None] == ids[:, None, None, None]).float()  # [N, S, h, w]
    pixels = masks.sum(dim=(-1, -2))  # [N, S]
    return InstanceTargets(
        labels=torch.tensor([class_of[i] for i in present], dtype=torch.int64),
        masks=masks,
        visibility=pixels / pixels.sum(dim=1, keepdim=True),
        instance_ids=ids,
    )
