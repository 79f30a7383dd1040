"""Read the three kinds of weight files the Predictor accepts, and write our export format.

Kinds:
  "lightning"  a `.ckpt` saved by `SegVGGTModule` (torch.load weights_only=True): the experiment config is
               `hyper_parameters["config"]` (its "model" section = ModelConfig fields, "data" section holds
               `benchmark` and `image_size`), the weights are `state_dict["model.<SegVGGT key>"]`.
  "export"     a `.safetensors` file written by `export_weights`: the SegVGGT state dict (LoRA merged) and
               the metadata keys `format` = "segvggt-weights", `format_version`, `model_config` (JSON of
               ModelConfig with lora_rank 0), `benchmark`, `image_size`, `preprocess_mode`.
  "vggt"       an official VGGT file (`model.pt` / `.safetensors` with VGGT keys): geometry only.
LoRA adapters are merged into the base weights for inference (same outputs, fewer layers).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import pickle
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from segvggt.backbone import CheckpointError, build_vggt, load_vggt_checkpoint

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "segvggt-weights"
EXPORT_VERSION = "1"
VGGT_IMAGE_SIZE = 518
_SEGVGGT_MARKER = "query_embed.weight"
_VGGT_MARKER = "aggregator.camera_token"


@dataclass
class LoadedModel:
    """A model ready for inference and what the Predictor needs to know about it.

    model: SegVGGT (kind lightning / export) or VGGT (kind vggt), in eval mode, on the CPU.
    benchmark: class table name for SegVGGT, None for geometry-only VGGT.
    image_size: width (crop mode) the images are resized to, as in training.
    """

    model: nn.Module
    kind: str
    benchmark: str | None
    image_size: int
    preprocess_mode: str
    source: str

    @property
    def has_segmentation(self) -> bool:
        return self.kind != "vggt"


_MAX_REASON = 160  # characters of a reader's message quoted in ours


def _short(err: Exception) -> str:
    """`Type: reason` of a reader's error in one line, cut at a word boundary with '...' when long.

    torch.load(weights_only=True) wraps its reason in a paragraph that suggests turning weights_only off;
    only the reason itself is kept (that advice must never reach a user of a file they did not write).
    """
    text = str(err).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "Weights only load failed" in text:
        reason = [line for line in lines if "WeightsUnpickler error:" in line or "Unsupported" in line]
        text = reason[-1].split("WeightsUnpickler error:")[-1].strip() if reason else ""
        if not text and reason:
            following = lines[lines.index(reason[-1]) + 1 :]
            text = following[0] if following else ""
        text = f"not plain weights: {text}" if text else "not plain weights"
    else:
        text = lines[0] if lines else ""
    if len(text) > _MAX_REASON:
        text = text[:_MAX_REASON].rsplit(" ", 1)[0] + " ..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _code_in_pickle(err: Exception) -> str | None:
    """The Python callable a refused pickle asked for (e.g. 'posix.system'), or None when the file was
    refused for another reason (not a pickle, truncated). torch.load(weights_only=True) never calls it."""
    if not (isinstance(err, pickle.UnpicklingError) and "Weights only load failed" in str(err)):
        return None
    for line in str(err).splitlines():
        words = line.split()
        if "GLOBAL" in words and words.index("GLOBAL") + 1 < len(words):
            return words[words.index("GLOBAL") + 1]
    return None


def _unreadable(path: Path, err: Exception) -> CheckpointError:
    code = _code_in_pickle(err)
    if code is not None:
        return CheckpointError(
            f"{path}: refused - the file is a pickle that asks to run Python code ({code}) when loaded; it was not "
            "loaded and nothing in it was run; give a SegVGGT .ckpt, an exported .safetensors or the official VGGT "
            "model.pt (or re-save trusted weights as a plain state dict)"
        )
    return CheckpointError(
        f"{path}: cannot read checkpoint ({_short(err)}); the file is truncated, corrupt or not a torch / "
        "safetensors file - give a SegVGGT .ckpt, an exported .safetensors or the official VGGT model.pt"
    )


def check_finite_weights(model: nn.Module, path: Path) -> None:
    """CheckpointError naming the checkpoint and a tensor when any floating weight is NaN or inf."""
    bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(
            f"{path}: {len(bad)} weight tensor(s) hold NaN or inf values (e.g. {bad[0]}); the checkpoint is broken "
            "(e.g. a diverged training run) - use an earlier or another checkpoint"
        )


def _wrong_kind(path: Path, what: str) -> CheckpointError:
    return CheckpointError(
        f"{path}: {what}; expected a SegVGGT Lightning checkpoint (.ckpt from tools/train.py), weights written "
        "by export_weights (.safetensors) or the official VGGT model.pt / model.safetensors"
    )


def load_model(path: str | Path, vggt_config: dict | None = None) -> LoadedModel:
    """Detect the kind of `path` and build the model from it (on the CPU). Raises one CheckpointError.

    vggt_config: backbone config dict for official VGGT files (None = VGGT-1B, the only released model).
    `path` may be `hf://org/name[/file]` (downloaded once into the hub cache, see segvggt.hub).
    """
    from segvggt.hub import resolve_checkpoint

    path = resolve_checkpoint(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder; give the checkpoint file itself (e.g. {path / 'last.ckpt'})")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if path.suffix == ".safetensors":
        return _load_safetensors(path, vggt_config)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on the way to refusing a file
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any reader failure means the same thing to the user
        raise _unreadable(path, err) from None
    if not isinstance(obj, Mapping):
        raise _wrong_kind(path, f"holds a {type(obj).__name__}, not a checkpoint dict")
    if "state_dict" in obj and "hyper_parameters" in obj:
        return _load_lightning(path, obj)
    state = obj.get("model", obj) if isinstance(obj.get("model"), Mapping) else obj
    if _is_tensor_dict(state) and _VGGT_MARKER in _strip_module(state):
        return _load_official(path, _strip_module(state), vggt_config)
    if _is_tensor_dict(state) and _SEGVGGT_MARKER in state:
        raise _wrong_kind(path, "SegVGGT weights without their model config (save them with export_weights)")
    raise _wrong_kind(path, "not a SegVGGT or VGGT checkpoint (no VGGT or SegVGGT weights found)")


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, Tensor) for v in obj.values())


def _strip_module(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    if all(k.startswith("module.") for k in state):  # saved from DistributedDataParallel
        return {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def _model_config(data: Mapping[str, Any], where: Path):
    from segvggt.config_utils import dataclass_from_dict
    from segvggt.segmentation.config import ModelConfig

    try:
        return dataclass_from_dict(ModelConfig, dict(data))
    except (TypeError, ValueError) as err:
        raise _wrong_kind(where, f"its model config does not fit this version of SegVGGT ({err})") from None


def _build_and_fill(config, state: Mapping[str, Tensor], where: Path) -> nn.Module:
    from segvggt.segmentation.segvggt import SegVGGT

    model = SegVGGT(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or mismatched:
        parts = [f"{len(v)} {label} (e.g. {', '.join(v[:3])})" for label, v in
                 (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)) if v]
        raise _wrong_kind(where, "its weights do not fit the model its config describes: " + "; ".join(parts))
    model.load_state_dict(state, strict=True)
    return model


def _finish(model: nn.Module) -> nn.Module:
    from segvggt.segmentation.lora import has_lora, merge_lora

    if has_lora(model):
        merge_lora(model)
    return model.eval().requires_grad_(False)


def _load_lightning(path: Path, ckpt: Mapping[str, Any]) -> LoadedModel:
    hparams = ckpt.get("hyper_parameters")
    config = hparams.get("config") if isinstance(hparams, Mapping) else None
    if not isinstance(config, Mapping) or not isinstance(config.get("model"), Mapping):
        raise _wrong_kind(path, "a Lightning checkpoint without hyper_parameters['config']['model'] (not saved by SegVGGTModule)")
    state = {k[len("model.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    if not state:
        raise _wrong_kind(path, "a Lightning checkpoint with no 'model.*' weights")
    data = config.get("data") or {}
    benchmark = str(data.get("benchmark", "synthetic"))
    try:
        image_size = int(data.get("image_size", 112))
    except (TypeError, ValueError):
        raise _wrong_kind(path, f"its config has image_size {data.get('image_size')!r}, not a whole number") from None
    model = _finish(_build_and_fill(_model_config(config["model"], path), state, path))
    check_finite_weights(model, path)
    logger.info("%s: SegVGGT Lightning checkpoint (benchmark %s, image size %d)", path, benchmark, image_size)
    return LoadedModel(model, "lightning", benchmark, image_size, "crop", str(path))


def _load_safetensors(path: Path, vggt_config: dict | None) -> LoadedModel:
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as err:  # noqa: BLE001
        raise _unreadable(path, err) from None
    if metadata.get("format") == EXPORT_FORMAT:
        if metadata.get("format_version") != EXPORT_VERSION:
            raise _wrong_kind(path, f"export format version {metadata.get('format_version')!r} (this code reads {EXPORT_VERSION!r})")
        try:
            model_config = json.loads(metadata["model_config"])
            benchmark, image_size = metadata["benchmark"], int(metadata["image_size"])
        except (KeyError, ValueError) as err:
            raise _wrong_kind(path, f"exported weights with broken metadata ({_short(err)})") from None
        model = _finish(_build_and_fill(_model_config(model_config, path), state, path))
        check_finite_weights(model, path)
        return LoadedModel(model, "export", benchmark, image_size, metadata.get("preprocess_mode", "crop"), str(path))
    state = _strip_module(state) if state else state
    if _VGGT_MARKER in state:
        return _load_official(path, state, vggt_config)
    if _SEGVGGT_MARKER in state:
        raise _wrong_kind(path, "SegVGGT weights without the export metadata (write them with export_weights)")
    raise _wrong_kind(path, "not a SegVGGT or VGGT checkpoint (no VGGT or SegVGGT weights found)")


def _load_official(path: Path, state: dict[str, Tensor], vggt_config: dict | None) -> LoadedModel:
    model = build_vggt(vggt_config)
    load_vggt_checkpoint(model, state)  # raises CheckpointError naming the keys that do not fit VGGT-1B
    check_finite_weights(model, path)
    logger.info("%s: official VGGT weights, geometry only (no instance segmentation)", path)
    return LoadedModel(model.eval().requires_grad_(False), "vggt", None, VGGT_IMAGE_SIZE, "crop", str(path))


def export_weights(
    module_or_model: nn.Module,
    path: str | Path,
    benchmark: str | None = None,
    image_size: int | None = None,
    preprocess_mode: str = "crop",
) -> Path:
    """Write a SegVGGT (or a SegVGGTModule holding one as `.model`) as inference weights.

    LoRA is merged into a copy (the given model is not changed). `benchmark` and `image_size` default to
    the module's experiment config (`module.cfg.data`); a bare SegVGGT needs them given. The file is written
    under a temporary name and renamed when complete. Returns the path.
    """
    from safetensors.torch import save_file

    from segvggt.config_utils import dataclass_to_dict
    from segvggt.segmentation.lora import merge_lora
    from segvggt.segmentation.segvggt import SegVGGT

    model = getattr(module_or_model, "model", module_or_model)
    if not isinstance(model, SegVGGT):
        raise TypeError(f"export_weights expects a SegVGGT or a module holding one as `.model`, got {type(module_or_model).__name__}")
    data_cfg = getattr(getattr(module_or_model, "cfg", None), "data", None)
    benchmark = benchmark or getattr(data_cfg, "benchmark", None)
    image_size = image_size or getattr(data_cfg, "image_size", None)
    if benchmark is None or image_size is None:
        raise ValueError("export_weights: give benchmark= and image_size= for a bare SegVGGT (the module's config is not available)")
    merged = merge_lora(copy.deepcopy(model).cpu())
    config = dataclasses.replace(model.config, lora_rank=0, lora_alpha=None)
    state = {k: v.detach().contiguous() for k, v in merged.state_dict().items()}
    metadata = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        "model_config": json.dumps(dataclass_to_dict(config)),
        "benchmark": str(benchmark),
        "image_size": str(int(image_size)),
        "preprocess_mode": preprocess_mode,
    }
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"export_weights writes .safetensors files, got {path.name}")
    tmp = path.with_name(path.name + ".partial")
    save_file(state, str(tmp), metadata=metadata)
    tmp.replace(path)
    logger.info("exported %d tensors to %s", len(state), path)
    return path
