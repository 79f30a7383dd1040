"""Printing and saving instance-AP results: a text table, JSON (fractions, NaN -> null) and the
official CSV (`class,class id,ap,ap50,ap25`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from segvggt.atomic import atomic_write_text
from segvggt.evaluation.instance_ap import IOU_THRESHOLDS, InstanceAPResult

_LINE = 64


def _num(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def finite_or_null(obj: Any) -> Any:
    """JSON-safe copy of nested dicts / lists: NaN / inf (an undefined metric) -> None, so that the file
    is valid JSON (`json.dumps(..., allow_nan=False)` accepts it) and strict parsers read it."""
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def result_to_dict(result: InstanceAPResult, **extra: Any) -> dict:
    """JSON-ready dict: top-level `ap`, `ap50`, `ap25` as fractions, then per class and subset.

    `ap_per_threshold` lists AP at IoU 0.50..0.90 then 0.25 (the `iou_thresholds` order).
    """
    per_class = {}
    for k, (cid, name) in enumerate(zip(result.class_ids, result.class_names)):
        per_class[name] = {
            "label_id": int(cid),
            "ap": _num(result.per_class_ap[k]),
            "ap50": _num(result.per_class_ap50[k]),
            "ap25": _num(result.per_class_ap25[k]),
            "ap_per_threshold": [_num(v) for v in result.ap_table[k]],
        }
    subsets = {
        name: {key: _num(v) for key, v in scores.items()}
        for name, scores in result.subset_scores().items()
    }
    return {
        "ap": _num(result.ap),
        "ap50": _num(result.ap50),
        "ap25": _num(result.ap25),
        **extra,
        "class_agnostic": result.class_agnostic,
        "num_scenes": result.num_scenes,
        "iou_thresholds": [float(t) for t in IOU_THRESHOLDS],
        "subsets": subsets,
        "per_class": per_class,
    }


def format_table(result: InstanceAPResult) -> str:
    """Per-class and average AP / AP50 / AP25 (and subsets), like the official printout."""

    def row(name: str, a: float, b: float, c: float) -> str:
        return f"{name[:24]:<24}:{a:>13.3f}{b:>13.3f}{c:>13.3f}"

    out = ["#" * _LINE, f"{'what':<24}:{'AP':>13}{'AP_50%':>13}{'AP_25%':>13}", "#" * _LINE]
    for k, name in enumerate(result.class_names):
        out.append(row(name, result.per_class_ap[k], result.per_class_ap50[k], result.per_class_ap25[k]))
    out.append("-" * _LINE)
    for name, s in result.subset_scores().items():
        out.append(row(name, s["ap"], s["ap50"], s["ap25"]))
    out.append(row("average", result.ap, result.ap50, result.ap25))
    return "\n".join(out)


def write_json(path: str | Path, result: InstanceAPResult, **extra: Any) -> Path:
    """Write `result_to_dict(result, **extra)` atomically."""
    path = Path(path)
    atomic_write_text(path, json.dumps(result_to_dict(result, **extra), indent=2) + "\n")
    return path


def write_official_csv(path: str | Path, result: InstanceAPResult) -> Path:
    """The official evaluator's result file: `class,class id,ap,ap50,ap25`, one line per class."""
    lines = ["class,class id,ap,ap50,ap25"]
    for k, (cid, name) in enumerate(zip(result.class_ids, result.class_names)):
        vals = (result.per_class_ap[k], result.per_class_ap50[k], result.per_class_ap25[k])
        lines.append(",".join([name, str(cid)] + [str(float(v)) for v in vals]))
    path = Path(path)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
