"""Load official VGGT weights (`model.pt` or `.safetensors`, or a state dict) into our VGGT.

Target resolution: `model` may be a `VGGT`, or any module that holds one (SegVGGT keeps it as
`model.vggt`; a peft-wrapped model still exposes it). The checkpoint's official key `k` is loaded
into `<prefix>k`, where `<prefix>` is the VGGT's path inside `model`. If peft LoRA has wrapped a
Linear, its weights live at `...qkv.base_layer.weight`; keys are remapped to that automatically.

Checks: every checkpoint key must land on a parameter / buffer of the same shape, and every key of
`model` must be supplied, except keys starting with one of `allow_missing_prefixes` (paths in
`model`, e.g. ("segmentation.",)) and LoRA adapter weights (`.lora_` in the name). Otherwise one
`CheckpointError` lists the missing, unexpected and shape-mismatched keys. `track_head.*` keys are
dropped (we do not implement the track head) with a log message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from segvggt.backbone.vggt import VGGT

logger = logging.getLogger(__name__)

DROPPED_PREFIXES = ("track_head.",)
_LIST_LIMIT = 12


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message says which keys."""


@dataclass(frozen=True)
class LoadReport:
    """What happened: keys loaded, dropped from the file, and model keys left at their init."""

    loaded: tuple[str, ...]
    dropped: tuple[str, ...]
    allowed_missing: tuple[str, ...]


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a `.safetensors` file or a torch file (weights_only=True) into a flat {key: tensor} dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path), device="cpu")
        else:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any reader failure means the same thing to the user
        raise CheckpointError(
            f"{path}: cannot read checkpoint ({type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}); "
            "the file is truncated, corrupt or not a torch/safetensors file - download the official "
            "VGGT model.pt (or model.safetensors) again"
        ) from None
    return _as_state_dict(obj, str(path))


def _as_state_dict(obj, where: str) -> dict[str, Tensor]:
    if isinstance(obj, Mapping) and not all(isinstance(v, Tensor) for v in obj.values()):
        for wrapper in ("state_dict", "model"):  # Lightning / training checkpoints nest the weights
            if isinstance(obj.get(wrapper), Mapping):
                obj = obj[wrapper]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()):
        raise CheckpointError(f"{where}: not a state dict of named tensors (got {type(obj).__name__}); "
                              "expected the official VGGT model.pt / model.safetensors")
    state = dict(obj)
    if all(k.startswith("module.") for k in state):  # saved from DistributedDataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def find_vggt(model: nn.Module) -> tuple[VGGT, str]:
    """The VGGT inside `model` and its key prefix ('' if `model` is the VGGT)."""
    if isinstance(model, VGGT):
        return model, ""
    for name, module in model.named_modules():
        if isinstance(module, VGGT):
            return module, name + "."
    raise CheckpointError(f"{type(model).__name__} holds no VGGT module (expected a VGGT or e.g. `model.vggt`)")


def load_vggt_checkpoint(
    model: nn.Module,
    path_or_state_dict: str | Path | Mapping[str, Tensor],
    allow_missing_prefixes: tuple[str, ...] = (),
    assign: bool = False,
) -> LoadReport:
    """Load official VGGT weights into `model` (a VGGT or a module holding one); see module docstring.

    assign: passed to `load_state_dict`; use True to fill a model built on the `meta` device (no
    double memory for the 1B model); the normalisation buffers are then created on the weights' device.
    Raises CheckpointError (a ValueError) naming every problem at once.
    """
    if isinstance(path_or_state_dict, (str, Path)):
        where = str(path_or_state_dict)
        source = read_state_dict(path_or_state_dict)
    else:
        where = "state dict"
        source = _as_state_dict(path_or_state_dict, where)
    vggt, prefix = find_vggt(model)
    target = model.state_dict(keep_vars=True)

    dropped = tuple(k for k in source if k.startswith(DROPPED_PREFIXES))
    if dropped:
        logger.info("%s: dropping %d track_head.* keys (the track head is not implemented)", where, len(dropped))
    mapped: dict[str, Tensor] = {}
    unexpected, mismatched, seen = [], [], set()
    for key, value in source.items():
        if key.startswith(DROPPED_PREFIXES):
            continue
        name = _target_name(prefix + key, target)
        if name is None:
            unexpected.append(key)
        elif tuple(target[name].shape) != tuple(value.shape):
            seen.add(name)
            mismatched.append(f"{key}: checkpoint {tuple(value.shape)} vs model {tuple(target[name].shape)}")
        else:
            mapped[name] = value
    missing, allowed = [], []
    for name in target:
        if name in mapped or name in seen:
            continue
        if name.startswith(tuple(allow_missing_prefixes)) or ".lora_" in name:
            allowed.append(name)
        else:
            missing.append(name)
    if missing or unexpected or mismatched:
        raise CheckpointError(
            f"{where} does not fit {type(model).__name__}: "
            + "; ".join(
                _listing(label, items)
                for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched))
                if items
            )
            + ". Build the model with the configuration the checkpoint was trained with (build_vggt() for VGGT-1B)."
        )
    result = model.load_state_dict(mapped, strict=False, assign=assign)
    assert not result.unexpected_keys, result.unexpected_keys  # guaranteed by the checks above
    if vggt.aggregator._resnet_mean.is_meta:  # built on `meta`: give the non-persistent buffers real values
        vggt.aggregator.reset_normalisation_buffers(vggt.aggregator.camera_token.device)
    logger.info("%s: loaded %d tensors into %s", where, len(mapped), type(model).__name__)
    return LoadReport(loaded=tuple(mapped), dropped=dropped, allowed_missing=tuple(allowed))


def _target_name(name: str, target: Mapping[str, Tensor]) -> str | None:
    if name in target:
        return name
    parent, _, leaf = name.rpartition(".")
    lora_name = f"{parent}.base_layer.{leaf}"  # peft LoRA keeps the wrapped Linear as `base_layer`
    return lora_name if lora_name in target else None


def _listing(label: str, items: list[str]) -> str:
    shown = ", ".join(items[:_LIST_LIMIT])
    more = f" ... and {len(items) - _LIST_LIMIT} more" if len(items) > _LIST_LIMIT else ""
    return f"{len(items)} {label} key(s): {shown}{more}"
