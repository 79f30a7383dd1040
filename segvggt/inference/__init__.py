"""Inference for users: Predictor (encode once / prompt many), post-processing, exports.

Nothing heavy is imported until used: `from segvggt.inference import Predictor` loads the predictor only.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Predictor": "predictor",
    "SceneResult": "result",
    "Instance": "result",
    "PromptResult": "result",
    "InferenceError": "errors",
    "export_weights": "checkpoints",
    "load_model": "checkpoints",
    "LoadedModel": "checkpoints",
    "run_inference": "pipeline",
    "InferenceOptions": "pipeline",
    "estimate_peak_bytes": "memory",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
