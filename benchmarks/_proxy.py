"""CPU proxies of VGGT-1B for the inference benchmarks: VGGT-1B's widths, fewer layers / pixels.

Per view, the aggregator's cost grows with tokens x layers x C^2 and the DPT heads' with pixels x F^2;
every token covers 14 x 14 pixels at any resolution, so a smaller image keeps that balance and only the
number of layers (and the DINOv2 patch embed, replaced by a conv) shifts it towards the heads. The
proxy keeps C = 1024 (16 heads), the DPT widths (F = 256, out_channels 256 / 512 / 1024 / 1024), the
camera head (4 blocks at 2C), Q = 100 queries of width 256 and D = 128 instance features.
"""

from __future__ import annotations

import torch

from segvggt.inference.checkpoints import LoadedModel
from segvggt.inference.predictor import Predictor
from segvggt.segmentation.segvggt import build_segvggt


def taps_for(depth: int) -> list[int]:
    """DPT taps spread as VGGT-1B's (4, 11, 17, 23 of 24 layers)."""
    if depth >= 24:
        return [round(i * (depth - 1) / 23) for i in (4, 11, 17, 23)]
    if depth < 4:
        raise ValueError("the proxy needs at least 4 aggregator layers (one per DPT tap)")
    return [round(i * (depth - 1) / 3) for i in range(4)]


def proxy_config(width: int = 1024, depth: int = 24, image_size: int = 112) -> dict:
    """Nested backbone config: VGGT-1B proportions at aggregator width `width` and `depth` layers."""
    heads = max(1, width // 64)
    return {
        "vggt": {"embed_dim": width, "img_size": image_size, "patch_size": 14, "enable_track": False},
        "aggregator": {"depth": depth, "num_heads": heads, "patch_embed": "conv"},
        "camera_head": {"dim_in": 2 * width, "trunk_depth": 4, "num_heads": heads},
        "dpt_common": {"dim_in": 2 * width, "features": width // 4,
                       "out_channels": [width // 4, width // 2, width, width], "intermediate_layer_idx": taps_for(depth)},
    }  # fmt: skip


def proxy_model(width: int = 1024, depth: int = 24, num_queries: int = 100):
    """SegVGGT with the proxy backbone, random weights, eval mode (query width min(256, C), D = C / 8)."""
    torch.manual_seed(0)
    query_dim = min(256, width)
    return build_segvggt(proxy_config(width, depth), num_queries=num_queries, num_classes=18, lora_rank=0,
                         query_dim=query_dim, query_heads=max(1, query_dim // 32), mask_dim=max(8, width // 8)).eval()  # fmt: skip


def predictor_for(
    model, device: str | torch.device | None, precision: str = "auto", click_graphs: bool = True, image_size: int = 518
) -> Predictor:
    """A Predictor on `model`; photo paths are resized to `image_size` wide (crop mode), as in training."""
    loaded = LoadedModel(model, "export", "scannet", image_size, "crop", "random")
    return Predictor(loaded, device, precision, click_graphs)
