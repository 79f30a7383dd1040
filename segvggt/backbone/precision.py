"""Precision regions shared by the backbone's heads."""

from __future__ import annotations

import contextlib

import torch

_AUTOCAST_DEVICES = ("cuda", "cpu", "xpu", "mps")


def fp32_region(device_type: str):
    """A region where autocast is off (fp32 as upstream's heads); a no-op on devices without autocast
    (e.g. `meta`, which the FLOP benchmark uses)."""
    if device_type in _AUTOCAST_DEVICES:
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()
