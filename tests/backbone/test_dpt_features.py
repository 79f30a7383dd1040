"""DPTHead in feature mode (the semantic head's base): shapes, keys, chunking."""

from __future__ import annotations

import torch
from torch.testing import assert_close

from segvggt.backbone import DPTConfig, DPTHead


def test_feature_only_down_ratio_2_returns_half_resolution_features():
    torch.manual_seed(0)
    cfg = DPTConfig(dim_in=16, features=12, out_channels=(4, 8, 8, 8), intermediate_layer_idx=(0, 1, 1, 2),
                    feature_only=True, down_ratio=2)
    head = DPTHead(cfg).eval()
    keys = set(head.state_dict())
    assert "scratch.output_conv1.weight" in keys and not any("output_conv2" in k for k in keys)
    assert head.scratch.output_conv1.weight.shape == (12, 12, 3, 3)
    B, S, H, W = 2, 3, 42, 70
    tokens = [torch.randn(B, S, 5 + (H // 14) * (W // 14), 16) for _ in range(3)]
    images = torch.zeros(B, S, 3, H, W)
    with torch.no_grad():
        feats = head(tokens, images, patch_start_idx=5, frames_chunk_size=None)
        chunked = head(tokens, images, patch_start_idx=5, frames_chunk_size=2)
    assert feats.shape == (B, S, 12, H // 2, W // 2)
    assert_close(chunked, feats, atol=1e-6, rtol=1e-6)
    with torch.no_grad():
        alone = head([t[1:, 2:] for t in tokens], images[1:, 2:], 5)
    assert_close(alone, feats[1:, 2:], atol=1e-5, rtol=1e-5)  # per-frame: no mixing across views or scenes
