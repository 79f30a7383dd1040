"""The VGGT-1B configuration has exactly the official checkpoint's keys, shapes and order."""

from __future__ import annotations

import json
import re

import torch
from helpers import FIXTURES

from segvggt.backbone import build_vggt


def test_1b_meta_state_dict_matches_official_layout():
    layout = json.loads((FIXTURES / "state_dict_layout_1b.json").read_text())
    expected = {k: tuple(v) for k, v in layout.items() if not k.startswith("track_head.")}
    with torch.device("meta"):
        model = build_vggt()
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert list(ours) == list(expected)  # same keys in the same order (point_head before depth_head)
    assert ours == expected
    assert sum(v.numel() for v in model.state_dict().values()) == 1_190_596_120
    keys = set(ours)
    assert not any(".resize_layers.2." in k or ".output_conv2.1." in k or "poseLN_modulation.0." in k for k in keys)
    first_point = next(i for i, k in enumerate(ours) if k.startswith("point_head."))
    first_depth = next(i for i, k in enumerate(ours) if k.startswith("depth_head."))
    assert first_point < first_depth
    assert "aggregator._resnet_mean" not in keys  # non-persistent buffer, as upstream


def test_dinov2_fixture_has_the_1b_key_structure():
    layout = json.loads((FIXTURES / "state_dict_layout_1b.json").read_text())
    fixture = torch.load(FIXTURES / "vggt_parity_dinov2.pt")

    def pattern(keys):
        return {re.sub(r"\.\d+\.", ".N.", k) for k in keys if not k.startswith("track_head.")}

    assert pattern(fixture["state_dict"]) == pattern(layout)
