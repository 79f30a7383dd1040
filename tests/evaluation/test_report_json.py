"""Metric files are strict JSON: an undefined metric (NaN, inf) is written as null."""

from __future__ import annotations

import json
import math

from segvggt.evaluation.report import finite_or_null


def test_undefined_metrics_become_null_and_the_rest_is_kept():
    metrics = {"ap": 0.25, "consistency": math.nan, "nested": {"x": [1.0, math.inf, -math.inf, 2]}, "n": 3,
               "device": "cpu"}  # fmt: skip
    safe = finite_or_null(metrics)
    assert safe == {"ap": 0.25, "consistency": None, "nested": {"x": [1.0, None, None, 2]}, "n": 3, "device": "cpu"}
    text = json.dumps(safe, allow_nan=False)  # would raise on a NaN left behind
    assert "NaN" not in text and json.loads(text) == safe
    assert math.isnan(metrics["consistency"])  # the input is not changed
