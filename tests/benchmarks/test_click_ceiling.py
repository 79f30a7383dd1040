"""benchmarks/click_ceiling.py: the click agreement that picks a mask, on hand-made masks and clicks."""

from __future__ import annotations

import importlib.util
import sys

import torch

from helpers import REPO


def _module():
    spec = importlib.util.spec_from_file_location("click_ceiling", REPO / "benchmarks" / "click_ceiling.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["click_ceiling"] = module
    spec.loader.exec_module(module)
    return module


def test_click_agreement_counts_positives_in_minus_negatives_in_at_half_resolution():
    agreement = _module().click_agreement
    mask = torch.zeros(2, 4, 5, dtype=torch.bool)  # masks at half the 8 x 10 input
    mask[1, 1:3, 2:4] = True  # input pixels x 4..7, y 2..5 of view 1
    clicks = [(1, 4.0, 2.0, True), (1, 7.9, 5.9, True), (0, 4.0, 2.0, True), (1, 0.0, 0.0, True),
              (1, 5.0, 3.0, False), (0, 9.0, 7.0, False)]  # fmt: skip
    assert agreement(mask, clicks) == 2 / 4 - 1 / 2
    assert agreement(torch.ones(2, 4, 5, dtype=torch.bool), clicks) == 0.0
    assert agreement(mask, [(1, 19.0, 19.0, True)]) == 0.0  # off the grid: clamped to the last cell, outside
