"""Shared builders for the loss tests (tiny tensors, CPU)."""

from __future__ import annotations

import pytest
import torch

from segvggt.types import InstanceTargets


def make_targets(masks: torch.Tensor, labels: list[int] | None = None) -> InstanceTargets:
    """masks [N, S, h, w] {0, 1} -> InstanceTargets with visibility = per-view pixel share."""
    masks = masks.float()
    n = masks.shape[0]
    counts = masks.flatten(2).sum(-1)  # [N, S]
    visibility = counts / counts.sum(-1, keepdim=True).clamp_min(1)
    labels_t = torch.tensor(labels if labels is not None else [0] * n, dtype=torch.int64)
    return InstanceTargets(labels_t, masks, visibility, torch.arange(1, n + 1, dtype=torch.int64))


@pytest.fixture
def targets_from_masks():
    return make_targets
