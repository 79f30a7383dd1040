"""Inference precision: bf16 weights and activations where the numerics allow, fp32 islands where not.

`Predictor(precision="auto")` picks bf16 on a CUDA GPU that supports it (fp16 autocast with fp32 weights
on older GPUs, fp32 on CPU / MPS). In bf16 mode (`prepare_bf16`):
- the matrices of every Linear / Conv / ConvTranspose layer are stored in bf16: half the weight memory,
  and autocast no longer keeps a bf16 copy of every fp32 weight for the duration of the call;
- what stays fp32: normalisation layers and LayerScale gains (the residual stream stays fp32, as in
  VGGT under autocast), learned tokens / embeddings / positional tables, the camera head (it runs with
  autocast off, as upstream) and each DPT head's final conv + activations (depth, confidence, points);
- the DPT heads run under autocast (`head_autocast`): bf16 convolutions, fp32 final conv.
`tests/inference/test_precision.py` bounds the difference to fp32 on the parity fixture.
"""

from __future__ import annotations

import dataclasses
import logging

import torch
from torch import nn

from segvggt.inference.errors import InferenceError

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
_MATRIX_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `precision` on `device` (None = plain fp32).

    "auto": bf16 on CUDA with bf16 support, fp16 on other CUDA GPUs, fp32 elsewhere; "bf16" on any device
    (on CPU slow unless it has bf16 units: for checks); "fp32": no autocast.
    """
    if precision not in PRECISIONS:
        raise InferenceError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return None
    if precision == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise InferenceError(f"precision bf16: {device} does not support bf16; use precision auto or fp32")
        return torch.bfloat16
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def fp32_islands(model: nn.Module) -> list[nn.Module]:
    """Modules whose weights must stay fp32: they run with autocast off (camera head, DPT final convs)."""
    vggt = getattr(model, "vggt", model)
    islands: list[nn.Module] = []
    if getattr(vggt, "camera_head", None) is not None:
        islands.append(vggt.camera_head)
    for head in (getattr(vggt, "depth_head", None), getattr(vggt, "point_head", None)):
        if head is not None and hasattr(head.scratch, "output_conv2"):
            islands.append(head.scratch.output_conv2)
    return islands


def prepare_bf16(model: nn.Module) -> int:
    """Cast the matrix layers of a VGGT / SegVGGT to bf16 in place (see the module docstring) and let its
    DPT heads run under autocast. Returns the bytes of weights saved."""
    skip = {id(m) for island in fp32_islands(model) for m in island.modules()}
    before = _weight_bytes(model)
    for module in model.modules():
        if isinstance(module, _MATRIX_LAYERS) and id(module) not in skip:
            module.to(torch.bfloat16)
    vggt = getattr(model, "vggt", model)
    if not vggt.cfg.head_autocast:
        # The DPT convolutions now hold bf16 weights; their fp32 final conv and activations are unchanged.
        vggt.cfg = dataclasses.replace(vggt.cfg, head_autocast=True)
    saved = before - _weight_bytes(model)
    logger.info("bf16 inference weights: %.2f GiB -> %.2f GiB", before / 2**30, (before - saved) / 2**30)
    return saved


def _weight_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())
