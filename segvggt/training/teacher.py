"""The frozen teacher that supervises cameras and depth (the paper distils VGGT's geometry).

It is the pre-trained VGGT taken before training: no LoRA, the point head dropped (no loss reads it),
the modules that stay pre-trained in the student (the frozen patch embedding, LoRA's base layers)
shared with it rather than copied, and, for mixed-precision training, its aggregator's other matrix
weights stored in bf16. Under autocast those weights are cast to bf16 for every matmul anyway, so storing them in bf16
changes no result and halves their memory; norms, LayerScale gains and learned tokens stay fp32, so
the residual stream stays fp32, and the heads stay fp32 as upstream.

The teacher is held outside the module tree of the LightningModule: it is never trained, never
saved in checkpoints (it is rebuilt from `pretrained`), and DDP does not see it.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from segvggt.training.low_precision import store_frozen_matrices

GEOMETRY_HEADS = ("camera", "depth")


def make_teacher(vggt: nn.Module) -> nn.Module:
    """A frozen, LoRA-free copy of `vggt` without its point head (see `low_precision_teacher`).

    The teacher is the pre-trained VGGT, so every module of `vggt` that stays pre-trained for the
    whole run is used by the teacher itself instead of being copied: a frozen patch embedding
    (freeze_patch_embed, the recipe's choice; DINOv2 ViT-L, 0.3 B parameters) and the base layers
    that LoRA adapts (LoRA learns their update; the base weights never change). LoRA wrappers are
    replaced by their base layer, so the teacher computes the pre-trained function whatever the
    adapters hold. Shared modules are listed in `teacher.shared_modules`.
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    patch_embed = vggt.aggregator.patch_embed
    shared = [patch_embed] if not any(p.requires_grad for p in patch_embed.parameters()) else []
    wrapped = [(name, m) for name, m in vggt.named_modules() if isinstance(m, BaseTunerLayer)]
    shared += [m.get_base_layer() for _, m in wrapped]
    memo = {id(m): m for m in shared}
    for _, m in wrapped:  # the adapters are not copied at all
        memo.update({id(a): None for a in (m.lora_A, m.lora_B, m.lora_dropout)})
    head, vggt.point_head = vggt.point_head, None  # not copied at all
    try:
        teacher = copy.deepcopy(vggt, memo)
    finally:
        vggt.point_head = head
    for name, m in wrapped:
        parent, _, child = name.rpartition(".")
        setattr(teacher.get_submodule(parent), child, m.get_base_layer())
    teacher.shared_modules = tuple(shared)
    return teacher.eval().requires_grad_(False)  # the shared modules were frozen already


def low_precision_teacher(teacher: nn.Module, dtype: torch.dtype = torch.bfloat16) -> nn.Module:
    """Store the aggregator's Linear / Conv2d weights in `dtype`, in place (run it under autocast).
    Modules shared with the student are left as they are (the student decides their dtype)."""
    store_frozen_matrices(teacher.aggregator, dtype, skip=getattr(teacher, "shared_modules", ()))
    return teacher


@torch.no_grad()
def teacher_outputs(teacher: nn.Module, images: Tensor) -> dict[str, Tensor]:
    """Camera and depth of the teacher, one scene at a time (its transient memory is one scene's).

    images: [B, S, 3, H, W] -> pose_enc [B, S, 9], depth [B, S, H, W, 1], depth_conf [B, S, H, W].
    """
    parts = [teacher(images[b : b + 1], heads=GEOMETRY_HEADS) for b in range(images.shape[0])]
    return {key: torch.cat([p[key] for p in parts]) for key in ("pose_enc", "depth", "depth_conf")}
