"""The frozen teacher that supervises cameras and depth (the paper distils VGGT's geometry).

It is a copy of the pre-trained VGGT taken before training: LoRA merged away, the point head dropped
(no loss reads it), and, for mixed-precision training, its aggregator's matrix weights stored in
bf16. Under autocast those weights are cast to bf16 for every matmul anyway, so storing them in bf16
changes no result and halves their memory; norms, LayerScale gains and learned tokens stay fp32, so
the residual stream stays fp32, and the heads stay fp32 as upstream.

The teacher is held outside the module tree of the LightningModule: it is never trained, never
saved in checkpoints (it is rebuilt from `pretrained`), and DDP does not see it.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

GEOMETRY_HEADS = ("camera", "depth")


def make_teacher(vggt: nn.Module) -> nn.Module:
    """A frozen, LoRA-free copy of `vggt` without its point head (fp32; see `low_precision_teacher`)."""
    from segvggt.segmentation.lora import merge_lora

    teacher = merge_lora(copy.deepcopy(vggt))
    teacher.point_head = None
    return teacher.eval().requires_grad_(False)


def low_precision_teacher(teacher: nn.Module, dtype: torch.dtype = torch.bfloat16) -> nn.Module:
    """Store the aggregator's Linear / Conv2d weights in `dtype`, in place (run it under autocast)."""
    for module in teacher.aggregator.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            module.to(dtype)
    return teacher


@torch.no_grad()
def teacher_outputs(teacher: nn.Module, images: Tensor) -> dict[str, Tensor]:
    """Camera and depth of the teacher, one scene at a time (its transient memory is one scene's).

    images: [B, S, 3, H, W] -> pose_enc [B, S, 9], depth [B, S, H, W, 1], depth_conf [B, S, H, W].
    """
    parts = [teacher(images[b : b + 1], heads=GEOMETRY_HEADS) for b in range(images.shape[0])]
    return {key: torch.cat([p[key] for p in parts]) for key in ("pose_enc", "depth", "depth_conf")}
