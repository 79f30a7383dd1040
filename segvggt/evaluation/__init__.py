"""Evaluation: ScanNet instance AP, submission I/O, lifting masks onto scene points, geometry and
prompt metrics.

Kept light: nothing is imported until used (`from segvggt.evaluation import evaluate_instances`
loads only `instance_ap`; `InstanceAP` is the only name that pulls in torchmetrics).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SceneEval": "instance_ap",
    "InstanceAPResult": "instance_ap",
    "IOU_THRESHOLDS": "instance_ap",
    "evaluate_instances": "instance_ap",
    "read_gt": "submission",
    "read_submission": "submission",
    "write_submission": "submission",
    "evaluate_submission": "submission",
    "format_table": "report",
    "result_to_dict": "report",
    "InstanceAP": "metric",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
