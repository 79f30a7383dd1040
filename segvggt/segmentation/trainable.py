"""Which parameters of SegVGGT train, and at which learning rate.

Parameters are told apart by name: everything under `vggt.` is pretrained VGGT, except the LoRA adapters
(`lora_A`/`lora_B`), which count as new like every module SegVGGT adds.
"""

from __future__ import annotations

from typing import Any

from torch import nn

PRETRAINED_PREFIX = "vggt."
PATCH_EMBED_PREFIX = "vggt.aggregator.patch_embed."
AGGREGATOR_PREFIX = "vggt.aggregator."
# Learned tokens/embeddings and 1-D parameters (biases, norms, LayerScale) get no weight decay.
NO_DECAY_NAMES = ("camera_token", "register_token", "register_tokens", "cls_token", "pos_embed", "mask_token",
                  "empty_pose_tokens", "query_embed.weight", "polarity.weight")


def is_new_parameter(name: str) -> bool:
    """New = added by SegVGGT (outside `vggt.`) or a LoRA adapter."""
    return not name.startswith(PRETRAINED_PREFIX) or ".lora_" in name


def should_train(name: str, freeze_patch_embed: bool, freeze_backbone: str) -> bool:
    """The trainability rule (see ModelConfig.freeze_backbone) for one parameter name."""
    if freeze_backbone == "frozen" and ".lora_" in name:
        return False  # "frozen" builds no adapters (lora_rank 0); should any exist, they stay frozen too
    if is_new_parameter(name):
        return True
    if ".base_layer." in name:
        return False  # LoRA learns the update of these weights
    if name.endswith("patch_embed.mask_token"):
        return False  # unused by VGGT's forward; trainable it would trip DDP's unused-parameter check
    if freeze_backbone in ("all", "frozen"):
        return False
    if freeze_backbone == "aggregator" and name.startswith(AGGREGATOR_PREFIX):
        return False
    if freeze_patch_embed and name.startswith(PATCH_EMBED_PREFIX):
        return False
    return True


def set_trainable(model: nn.Module, freeze_patch_embed: bool, freeze_backbone: str) -> None:
    """Set requires_grad on every parameter of `model` by `should_train`."""
    for name, param in model.named_parameters():
        param.requires_grad_(should_train(name, freeze_patch_embed, freeze_backbone))


def _no_decay(name: str, ndim: int) -> bool:
    return ndim < 2 or name.endswith(NO_DECAY_NAMES)


def param_groups(model: nn.Module, lr_new: float, lr_pretrained: float, weight_decay: float) -> list[dict[str, Any]]:
    """Optimizer groups covering every trainable parameter exactly once.

    Groups (empty ones dropped), each with a "name" for logging:
        new          lr_new,        weight_decay   (new modules and LoRA, matrices)
        new_no_decay lr_new,        0              (their biases, norms, embeddings)
        pretrained   lr_pretrained, weight_decay   (trainable VGGT matrices)
        pretrained_no_decay lr_pretrained, 0
    """
    buckets: dict[str, list[nn.Parameter]] = {"new": [], "new_no_decay": [], "pretrained": [], "pretrained_no_decay": []}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        key = "new" if is_new_parameter(name) else "pretrained"
        if _no_decay(name, param.ndim):
            key += "_no_decay"
        buckets[key].append(param)
    settings = {
        "new": (lr_new, weight_decay),
        "new_no_decay": (lr_new, 0.0),
        "pretrained": (lr_pretrained, weight_decay),
        "pretrained_no_decay": (lr_pretrained, 0.0),
    }
    return [
        {"name": key, "params": params, "lr": settings[key][0], "weight_decay": settings[key][1]}
        for key, params in buckets.items()
        if params
    ]
