"""Frozen configuration of the VGGT backbone; defaults are VGGT-1B.

`VGGTConfig.from_dict` reads the nested form stored under `config` in the parity fixtures:
keys `vggt`, `aggregator`, `dinov2`, `camera_head`, `camera_num_iterations`, `dpt_common`,
`depth_head`, `point_head`, `dpt_frames_chunk_size` (any of them may be left out).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class DinoConfig:
    """DINOv2 ViT with registers (defaults: ViT-L/14, 4 registers, 518 px training size)."""

    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    ffn_layer: str = "mlp"
    qkv_bias: bool = True
    proj_bias: bool = True
    ffn_bias: bool = True
    img_size: int = 518
    patch_size: int = 14
    num_register_tokens: int = 4
    interpolate_antialias: bool = True
    interpolate_offset: float = 0.0
    block_chunks: int = 0
    init_values: float = 1.0


@dataclass(frozen=True, kw_only=True)
class AggregatorConfig:
    """Alternating frame / global attention trunk."""

    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    qkv_bias: bool = True
    proj_bias: bool = True
    ffn_bias: bool = True
    patch_embed: str = "dinov2_vitl14_reg"  # or "conv"
    conv_position_embedding: str = "none"  # "none" | "sincos": fixed 2D sin-cos positions added to the conv stem's tokens
    aa_order: tuple[str, ...] = ("frame", "global")
    aa_block_size: int = 1
    qk_norm: bool = True
    rope_freq: float = 100.0
    init_values: float = 0.01


@dataclass(frozen=True, kw_only=True)
class CameraHeadConfig:
    """Camera head trunk over the S camera tokens of a scene; dim_in = 2 * embed_dim."""

    dim_in: int = 2048
    trunk_depth: int = 4
    pose_encoding_type: str = "absT_quaR_FoV"
    num_heads: int = 16
    mlp_ratio: float = 4.0
    init_values: float = 0.01
    trans_act: str = "linear"
    quat_act: str = "linear"
    fl_act: str = "relu"


@dataclass(frozen=True, kw_only=True)
class DPTConfig:
    """DPT dense head. `feature_only=True` drops output_conv2 and returns features (see DPTHead)."""

    dim_in: int = 2048
    patch_size: int = 14
    output_dim: int = 4
    activation: str = "inv_log"
    conf_activation: str = "expp1"
    features: int = 256
    out_channels: tuple[int, int, int, int] = (256, 512, 1024, 1024)
    intermediate_layer_idx: tuple[int, int, int, int] = (4, 11, 17, 23)
    pos_embed: bool = True
    feature_only: bool = False
    down_ratio: int = 1


@dataclass(frozen=True, kw_only=True)
class VGGTConfig:
    """Whole backbone.

    checkpoint_blocks: gradient checkpointing of every aggregator layer (independent of `.training`).
    checkpoint_low_precision: with checkpoint_blocks, under autocast: the layer inputs the checkpoints
        keep are stored in the autocast dtype (forward values unchanged; gradients within its rounding).
    checkpoint_keep_global_attention: with checkpoint_blocks: the global attention's outputs are kept, so
        the backward pass does not recompute it (same gradients; S P C x 2 bytes per layer under bf16).
    checkpoint_heads: gradient checkpointing of the DPT heads, one chunk of frames at a time (their
        full-resolution maps are then recomputed in the backward pass instead of kept).
    frames_chunk_size: frames a DPT head processes at once (None = all).
    head_autocast: let the DPT heads run under an enclosing autocast (bf16 convolutions); their final
        conv and activations (depth, points, confidences) stay fp32. False = the official behaviour,
        every head in fp32.
    """

    img_size: int = 518
    patch_size: int = 14
    embed_dim: int = 1024
    enable_camera: bool = True
    enable_depth: bool = True
    enable_point: bool = True
    aggregator: AggregatorConfig = field(default_factory=AggregatorConfig)
    dinov2: DinoConfig | None = field(default_factory=DinoConfig)
    camera_head: CameraHeadConfig = field(default_factory=CameraHeadConfig)
    camera_num_iterations: int = 4
    depth_head: DPTConfig = field(default_factory=lambda: DPTConfig(output_dim=2, activation="exp"))
    point_head: DPTConfig = field(default_factory=lambda: DPTConfig(output_dim=4, activation="inv_log"))
    frames_chunk_size: int | None = 8
    checkpoint_blocks: bool = False
    checkpoint_low_precision: bool = False
    checkpoint_keep_global_attention: bool = False
    checkpoint_heads: bool = False
    head_autocast: bool = False

    @classmethod
    def from_dict(cls, cfg: dict[str, Any], **overrides: Any) -> "VGGTConfig":
        """Build from the fixtures' nested dict; `overrides` replace top-level fields."""
        known = {"vggt", "aggregator", "dinov2", "camera_head", "camera_num_iterations", "dpt_common",
                 "depth_head", "point_head", "dpt_frames_chunk_size"}
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"unknown VGGT config sections {sorted(unknown)}; expected some of {sorted(known)}")
        top = dict(cfg.get("vggt") or {})
        if top.pop("enable_track", False):
            raise ValueError("the VGGT track head is not implemented here; set vggt.enable_track=False")
        kwargs: dict[str, Any] = {**top}
        if cfg.get("aggregator") is not None:
            agg = dict(cfg["aggregator"])
            agg["aa_order"] = tuple(agg.get("aa_order", AggregatorConfig.aa_order))
            kwargs["aggregator"] = _make(AggregatorConfig, agg)
        patch_embed = kwargs.get("aggregator", AggregatorConfig()).patch_embed
        if patch_embed == "conv":
            kwargs["dinov2"] = None
        elif cfg.get("dinov2") is not None:
            kwargs["dinov2"] = _make(DinoConfig, cfg["dinov2"])
        if cfg.get("camera_head") is not None:
            kwargs["camera_head"] = _make(CameraHeadConfig, cfg["camera_head"])
        if "camera_num_iterations" in cfg:
            kwargs["camera_num_iterations"] = int(cfg["camera_num_iterations"])
        common = dict(cfg.get("dpt_common") or {})
        for name, default in (("depth_head", cls().depth_head), ("point_head", cls().point_head)):
            if common or cfg.get(name):
                merged = {**dataclasses.asdict(default), **common, **dict(cfg.get(name) or {})}
                kwargs[name] = _make(DPTConfig, merged)
        if "dpt_frames_chunk_size" in cfg:
            kwargs["frames_chunk_size"] = cfg["dpt_frames_chunk_size"]
        kwargs.update(overrides)
        return cls(**kwargs)


def _make(kind, values: dict[str, Any]):
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {kind.__name__} keys {sorted(unknown)}; known: {sorted(names)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return kind(**values)
