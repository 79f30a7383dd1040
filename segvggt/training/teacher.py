"""The frozen teacher that supervises cameras and depth (the paper distils VGGT's geometry).

It is a copy of the pre-trained VGGT taken before training: LoRA merged away, the point head dropped
(no loss reads it), the frozen patch embedding shared with the student rather than copied, and, for
mixed-precision training, its aggregator's matrix weights stored in bf16. Under autocast those weights are cast to bf16 for every matmul anyway, so storing them in bf16
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
    """A frozen, LoRA-free copy of `vggt` without its point head (fp32; see `low_precision_teacher`).

    A patch embedding that is frozen in `vggt` (freeze_patch_embed, the recipe's choice) stays the
    pre-trained one for the whole run, so the teacher uses that module itself instead of a copy
    (DINOv2 ViT-L: 0.3 B parameters). It is listed in `teacher.shared_modules`.
    """
    from segvggt.segmentation.lora import merge_lora

    patch_embed = vggt.aggregator.patch_embed
    frozen = not any(p.requires_grad for p in patch_embed.parameters())
    memo = {id(patch_embed): patch_embed} if frozen else {}
    head, vggt.point_head = vggt.point_head, None  # not copied at all
    try:
        teacher = merge_lora(copy.deepcopy(vggt, memo))
    finally:
        vggt.point_head = head
    teacher.shared_modules = (patch_embed,) if frozen else ()
    return teacher.eval().requires_grad_(False)  # a shared module was frozen already


def low_precision_teacher(teacher: nn.Module, dtype: torch.dtype = torch.bfloat16) -> nn.Module:
    """Store the aggregator's Linear / Conv2d weights in `dtype`, in place (run it under autocast).
    Modules shared with the student are left as they are."""
    shared = {id(m) for s in getattr(teacher, "shared_modules", ()) for m in s.modules()}
    for module in teacher.aggregator.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)) and id(module) not in shared:
            module.to(dtype)
    return teacher


@torch.no_grad()
def teacher_outputs(teacher: nn.Module, images: Tensor) -> dict[str, Tensor]:
    """Camera and depth of the teacher, one scene at a time (its transient memory is one scene's).

    images: [B, S, 3, H, W] -> pose_enc [B, S, 9], depth [B, S, H, W, 1], depth_conf [B, S, H, W].
    """
    parts = [teacher(images[b : b + 1], heads=GEOMETRY_HEADS) for b in range(images.shape[0])]
    return {key: torch.cat([p[key] for p in parts]) for key in ("pose_enc", "depth", "depth_conf")}
