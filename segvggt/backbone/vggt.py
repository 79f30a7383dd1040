"""VGGT: aggregator + camera / depth / point heads, checkpoint-compatible with the official VGGT-1B.

Usage:
    model = build_vggt()                      # VGGT-1B configuration (random weights)
    load_vggt_checkpoint(model, "model.pt")   # official weights (track_head keys dropped)
    out = model(images)                       # images [B, S, 3, H, W] (or [S, 3, H, W]) in [0, 1]

Running the heads on your own aggregated tokens (what SegVGGT does to share one aggregator pass):
    keep = model.head_layers()                                # the layers the heads read
    tokens_list, patch_start_idx = model.aggregator(images, keep_layers=keep)  # depth entries [B, S, P, 2C] or None
    out = model.run_heads(tokens_list, images, patch_start_idx)

Output dict (heads that are disabled are absent):
    pose_enc           [B, S, 9]      absT_quaR_FoV encoding of cam_from_world (last iteration)
    pose_enc_list      list of camera_num_iterations x [B, S, 9]
    depth              [B, S, H, W, 1]  (exp activation)
    depth_conf         [B, S, H, W]     (1 + exp)
    world_points       [B, S, H, W, 3]  (sign(x) * expm1(|x|))
    world_points_conf  [B, S, H, W]

The heads run with autocast disabled (fp32), as upstream, unless `head_autocast` lets the DPT heads
run under an enclosing autocast (their last conv and activations stay fp32). Gradient checkpointing
of every aggregator layer (`checkpoint_blocks`) and of the DPT heads per chunk of frames
(`checkpoint_heads`) are constructor options, independent of `.training`.
State-dict order matches the checkpoint: aggregator, camera_head, point_head, depth_head.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from typing import Any

import torch
from torch import Tensor, nn

from segvggt.backbone.aggregator import Aggregator
from segvggt.backbone.camera_head import CameraHead
from segvggt.backbone.config import VGGTConfig
from segvggt.backbone.dpt_head import DPTHead
from segvggt.backbone.precision import fp32_region


class VGGT(nn.Module):
    """images [B, S, 3, H, W] in [0, 1] -> output dict (see module docstring)."""

    def __init__(self, cfg: VGGTConfig | None = None):
        super().__init__()
        cfg = cfg or VGGTConfig()
        self.cfg = cfg
        width = 2 * cfg.embed_dim
        for name, head_dim in (("camera_head", cfg.camera_head.dim_in), ("depth_head", cfg.depth_head.dim_in),
                               ("point_head", cfg.point_head.dim_in)):
            if head_dim != width:
                raise ValueError(f"{name}.dim_in is {head_dim} but the aggregator emits 2*embed_dim = {width}")
        for name, head in (("depth_head", cfg.depth_head), ("point_head", cfg.point_head)):
            if max(head.intermediate_layer_idx) >= cfg.aggregator.depth:
                raise ValueError(f"{name} reads layers {head.intermediate_layer_idx} but the aggregator has "
                                 f"only {cfg.aggregator.depth}")
        self.aggregator = Aggregator(
            cfg.aggregator,
            cfg.embed_dim,
            cfg.patch_size,
            dinov2=cfg.dinov2,
            checkpoint_blocks=cfg.checkpoint_blocks,
            checkpoint_low_precision=cfg.checkpoint_low_precision,
            checkpoint_keep_global_attention=cfg.checkpoint_keep_global_attention,
        )
        # Registration order fixes the state-dict order: point_head precedes depth_head upstream.
        self.camera_head = CameraHead(cfg.camera_head) if cfg.enable_camera else None
        self.point_head = DPTHead(cfg.point_head) if cfg.enable_point else None
        self.depth_head = DPTHead(cfg.depth_head) if cfg.enable_depth else None
        self.frames_chunk_size = cfg.frames_chunk_size

    def forward(self, images: Tensor, heads: Collection[str] | None = None) -> dict[str, Any]:
        """images [B, S, 3, H, W] or [S, 3, H, W] in [0, 1], H and W multiples of 14 -> output dict.

        heads: subset of HEADS to run (None = every enabled head)."""
        if images.dim() == 4:
            images = images.unsqueeze(0)
        tokens_list, patch_start_idx = self.aggregator(images, keep_layers=self.head_layers(heads))
        return self.run_heads(tokens_list, images, patch_start_idx, heads)

    def enabled_heads(self, heads: Collection[str] | None = None) -> tuple[str, ...]:
        """The enabled heads among `heads` (None = all of HEADS), in HEADS order."""
        unknown = set(heads or ()) - set(HEADS)
        if unknown:
            raise ValueError(f"unknown VGGT head(s) {sorted(unknown)}; choose from {HEADS}")
        return tuple(h for h in HEADS if (heads is None or h in heads) and getattr(self, f"{h}_head") is not None)

    def head_layers(self, heads: Collection[str] | None = None) -> set[int]:
        """Aggregator layers the (selected) heads read: the last one for the camera head, the DPT taps."""
        layers: set[int] = set()
        for name in self.enabled_heads(heads):
            if name == "camera":
                layers.add(self.cfg.aggregator.depth - 1)
            else:
                layers.update(getattr(self.cfg, f"{name}_head").intermediate_layer_idx)
        return layers

    def run_heads(
        self, tokens_list: list[Tensor | None], images: Tensor, patch_start_idx: int,
        heads: Collection[str] | None = None,
    ) -> dict[str, Any]:
        """Camera / depth / point heads on aggregated tokens.

        tokens_list: aggregator outputs, depth entries [B, S, P, 2C] (None where no head reads the
        layer); images [B, S, 3, H, W] (only the shape is read); patch_start_idx: index of the first
        patch token in P; heads: subset of HEADS to run (None = every enabled head).
        """
        predictions: dict[str, Any] = {}
        dense_region = contextlib.nullcontext() if self.cfg.head_autocast else fp32_region(images.device.type)
        for name in self.enabled_heads(heads):
            head = getattr(self, f"{name}_head")
            # Under autocast the residual stream is already fp32; this only matters for half inputs
            # (or a head kept in another dtype than the aggregator, as in a low-precision teacher).
            dtype = next(head.parameters()).dtype
            inputs = [None if t is None else t.to(dtype) for t in tokens_list]
            if name == "camera":
                with fp32_region(images.device.type):
                    pose_enc_list = head(inputs, num_iterations=self.cfg.camera_num_iterations)
                predictions["pose_enc"] = pose_enc_list[-1]
                predictions["pose_enc_list"] = pose_enc_list
                continue
            with dense_region:
                maps, conf = head(
                    inputs, images, patch_start_idx, self.frames_chunk_size, checkpoint_chunks=self.cfg.checkpoint_heads
                )
            key = "depth" if name == "depth" else "world_points"
            predictions[key], predictions[f"{key}_conf"] = maps, conf
        return predictions


HEADS = ("camera", "depth", "point")


def build_vggt(cfg: dict | VGGTConfig | None = None, **options: Any) -> VGGT:
    """Build a VGGT (random weights).

    cfg: None = VGGT-1B; a `VGGTConfig`; or the nested dict stored under `config` in the parity
    fixtures (keys vggt, aggregator, dinov2, camera_head, camera_num_iterations, dpt_common,
    depth_head, point_head, dpt_frames_chunk_size).
    options: top-level `VGGTConfig` fields to override, e.g. `enable_point=False`,
    `checkpoint_blocks=True`, `frames_chunk_size=4`.
    """
    if cfg is None:
        config = VGGTConfig(**options)
    elif isinstance(cfg, VGGTConfig):
        config = VGGTConfig(**{**{f: getattr(cfg, f) for f in cfg.__dataclass_fields__}, **options})
    elif isinstance(cfg, dict):
        config = VGGTConfig.from_dict(cfg, **options)
    else:
        raise TypeError(f"build_vggt expects None, a dict or a VGGTConfig, got {type(cfg).__name__}")
    return VGGT(config)
