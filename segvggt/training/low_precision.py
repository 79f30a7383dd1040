"""Frozen matrices stored in the autocast dtype (a memory saving that changes no result).

Under autocast every nn.Linear / nn.Conv2d casts its weight and bias to the autocast dtype before
the matmul, so a frozen one whose weight and bias are stored in that dtype computes exactly the same
values with half the bytes. Norms, LayerScale gains, learned tokens and every trainable tensor are
left in fp32 (they are not cast by autocast, or the optimizer needs them in fp32).

In the scannet200 recipe this covers the student's frozen DINOv2 patch embedding and the base
weights that LoRA adapts (qkv and proj of the 48 aggregator blocks), which the teacher shares, and
the rest of the teacher's aggregator: about 2 GB less at VGGT-1B size.
"""

from __future__ import annotations

import torch
from torch import nn

AUTOCAST_DTYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def autocast_dtype(precision: str) -> torch.dtype | None:
    """Lightning's precision string -> the dtype its autocast computes in (None: no autocast)."""
    return AUTOCAST_DTYPES.get(str(precision))


def frozen_matrix_modules(module: nn.Module, skip: tuple[nn.Module, ...] = ()) -> list[nn.Module]:
    """The nn.Linear / nn.Conv2d modules under `module` with no trainable parameter, except those
    inside a module of `skip`."""
    skipped = {id(m) for s in skip for m in s.modules()}
    return [
        m for m in module.modules()
        if isinstance(m, (nn.Linear, nn.Conv2d)) and id(m) not in skipped
        and not any(p.requires_grad for p in m.parameters(recurse=False))
    ]  # fmt: skip


def bytes_saved_in(module: nn.Module, dtype: torch.dtype, skip: tuple[nn.Module, ...] = ()) -> int:
    """Bytes that storing the frozen matrix modules under `module` in `dtype` saves (0 once stored)."""
    return sum(p.numel() * (p.element_size() - dtype.itemsize)
               for m in frozen_matrix_modules(module, skip) for p in m.parameters(recurse=False))  # fmt: skip


def store_frozen_matrices(module: nn.Module, dtype: torch.dtype, skip: tuple[nn.Module, ...] = ()) -> int:
    """Convert the frozen matrix modules under `module` to `dtype`, in place -> bytes saved."""
    saved = bytes_saved_in(module, dtype, skip)
    for m in frozen_matrix_modules(module, skip):
        m.to(dtype)
    return saved
