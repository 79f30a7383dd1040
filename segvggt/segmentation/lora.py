"""LoRA on VGGT's frame- and global-attention projections (peft, imported lazily: it imports transformers).

Only `aggregator.{frame,global}_blocks.N.attn.{qkv,proj}` are adapted. A regex (full match) is used on
purpose: a list of names would match suffixes and also hit DINOv2's `blocks.N.attn.*`, the conv patch
embed `proj` and the camera trunk. peft replaces each target Linear in place, so its weights move to
`<name>.base_layer.{weight,bias}` and the adapters live in `<name>.lora_{A,B}.default.weight`.
"""

from __future__ import annotations

import logging

from torch import nn

logger = logging.getLogger(__name__)

LORA_TARGET_REGEX = r"(.*\.)?aggregator\.(frame|global)_blocks\.\d+\.attn\.(qkv|proj)"


def has_lora(model: nn.Module) -> bool:
    """True when LoRA adapters are attached somewhere in `model`."""
    return any(".lora_A." in name for name, _ in model.named_parameters())


def attach_lora(model: nn.Module, rank: int = 32, alpha: float | None = None, dropout: float = 0.0) -> nn.Module:
    """Inject LoRA adapters (rank r, scale alpha / r) into the aggregator attention projections, in place.

    lora_B starts at zero, so the outputs do not change on attach. peft freezes every non-LoRA parameter;
    if `model` has `apply_trainability()` (SegVGGT does), it is called afterwards to restore the intended
    split (new modules and the non-adapted pretrained parameters trainable again, see trainable.py).

    Returns the same module object (its class and forward are unchanged).
    """
    if rank <= 0:
        raise ValueError(f"LoRA rank must be > 0, got {rank} (use lora_rank=0 in ModelConfig to disable LoRA)")
    if has_lora(model):
        raise ValueError("LoRA adapters are already attached to this model; call merge_lora first to re-attach")
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(
        r=rank,
        lora_alpha=float(alpha if alpha is not None else rank),
        lora_dropout=dropout,
        target_modules=LORA_TARGET_REGEX,
    )
    inject_adapter_in_model(config, model)
    if not has_lora(model):
        raise ValueError(f"LoRA found no module matching {LORA_TARGET_REGEX!r}: is there an `aggregator` in the model?")
    logger.info("attached LoRA rank %d alpha %s", rank, config.lora_alpha)
    if hasattr(model, "apply_trainability"):
        model.apply_trainability()
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold the adapters into the base weights and remove the LoRA wrappers, in place (for export).

    Afterwards the state-dict keys are exactly those of the model without LoRA and the outputs equal the
    adapted outputs (up to float rounding). Returns the same module object.
    """
    if not has_lora(model):
        return model
    from peft.tuners.tuners_utils import BaseTunerLayer

    wrapped = [(name, module) for name, module in model.named_modules() if isinstance(module, BaseTunerLayer)]
    for name, module in wrapped:
        module.merge()
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, module.get_base_layer())
    logger.info("merged %d LoRA layers", len(wrapped))
    if hasattr(model, "apply_trainability"):
        model.apply_trainability()
    return model
