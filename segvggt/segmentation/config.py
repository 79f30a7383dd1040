"""`ModelConfig`: the frozen configuration of SegVGGT's segmentation part (plus the backbone dict).

The backbone part is the nested dict understood by `segvggt.backbone.build_vggt` (None = VGGT-1B);
everything else configures what SegVGGT adds on top of VGGT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

QUERY_LAYER_PRESETS = ("all", "early", "late", "interleaved")
FREEZE_BACKBONE_OPTIONS = ("none", "aggregator", "all", "frozen")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Configuration of SegVGGT (keyword arguments only).

    Attributes:
        backbone: nested VGGT config dict (keys vggt, aggregator, dinov2, camera_head, dpt_common, ...),
            as stored under `config` in tests/fixtures/vggt_parity_*.pt; None builds VGGT-1B.
        num_queries: Q, learned object queries.
        num_classes: K, foreground classes; class logits have K+1 entries (last = no object).
        query_layers: aggregator layers followed by a query block: "all", "early" (first half), "late"
            (second half), "interleaved" (0, 2, 4, ...) or an explicit sequence of layer indices.
        query_dim: width of the queries; None = min(256, C) with C the aggregator width. Image tokens are
            projected C -> query_dim for keys/values, which keeps the decoder cheap next to the backbone.
        query_heads: attention heads of the query blocks (must divide query_dim).
        query_mlp_ratio: hidden width of the query-block MLP relative to query_dim.
        mask_dim: D, channels of the per-pixel instance features (= the feature width of the semantic
            DPT head, whose feature_only output has that many channels). 128 as VGGT's own feature-only DPT
            (track head); the semantic head's cost grows ~D^2 (256 costs ~3x more, benchmarks/bench_segvggt.py).
        frame_mass_chunk: frames per chunk in the frame-attention-mass computation (bounds the memory
            of the per-frame score blocks to chunk * P' * Q * heads).
        lora_rank: LoRA rank on the frame/global attention projections; 0 = no LoRA.
        lora_alpha: LoRA alpha; None = lora_rank (scale 1).
        lora_dropout: LoRA dropout.
        freeze_patch_embed: keep the (DINOv2 or conv) patch embedding frozen.
        freeze_backbone: what else of the pretrained VGGT stays frozen:
            "none"       every pre-existing parameter trains at the pretrained learning rate, except the
                         patch embed (if freeze_patch_embed) and the base weights that LoRA adapts;
            "aggregator" the whole aggregator is frozen (LoRA adapters still train), heads train;
            "all"        every pre-existing parameter is frozen; only LoRA and new modules train;
            "frozen"     the paper's frozen-backbone ablation (Table 7): every pre-existing parameter is
                         frozen AND LoRA is off (lora_rank is taken as 0, no adapters are built), so
                         only the modules SegVGGT adds train.
        checkpoint_blocks: gradient checkpointing, when gradients are needed, of every aggregator layer,
            of each query layer's key/value projection and of the query blocks.
        checkpoint_low_precision: with checkpoint_blocks, under autocast (bf16-mixed): the aggregator layer
            inputs kept for the backward pass are stored in bf16 (half of the per-layer training memory;
            the forward pass and the losses are unchanged, the gradients differ at bf16 rounding level).
        checkpoint_keep_global_attention: with checkpoint_blocks: the outputs of the aggregator's global
            attention are kept, so the backward pass does not attend over all S P tokens again (same
            gradients; S P C x 2 bytes per layer under bf16: 1.6 GB per 24 views of 518 px at 1B).
        checkpoint_heads: gradient checkpointing of the DPT heads (depth, point, semantic), one chunk of
            frames at a time: their full-resolution maps are recomputed in the backward pass.
        head_autocast: run the DPT heads under the enclosing autocast (bf16 convolutions; their final
            conv and depth / confidence activations stay fp32). False = VGGT's fp32 heads.
        frames_chunk_size: frames a DPT head (depth, point, semantic) processes at once; None = the
            backbone's own (8 for VGGT-1B). With checkpoint_heads it bounds the heads' recompute memory.
    """

    backbone: dict[str, Any] | None = None
    num_queries: int = 100
    num_classes: int = 18
    query_layers: str | tuple[int, ...] = "all"
    query_dim: int | None = None
    query_heads: int = 8
    query_mlp_ratio: float = 4.0
    mask_dim: int = 128
    frame_mass_chunk: int = 4
    lora_rank: int = 32
    lora_alpha: float | None = None
    lora_dropout: float = 0.0
    freeze_patch_embed: bool = True
    freeze_backbone: str = "none"
    checkpoint_blocks: bool = False
    checkpoint_low_precision: bool = False
    checkpoint_keep_global_attention: bool = False
    checkpoint_heads: bool = False
    head_autocast: bool = False
    frames_chunk_size: int | None = None

    def __post_init__(self) -> None:
        if self.num_queries < 1:
            raise ValueError(f"ModelConfig.num_queries must be >= 1, got {self.num_queries}")
        if self.num_classes < 1:
            raise ValueError(f"ModelConfig.num_classes must be >= 1, got {self.num_classes}")
        if self.lora_rank < 0:
            raise ValueError(f"ModelConfig.lora_rank must be >= 0 (0 = off), got {self.lora_rank}")
        if self.frames_chunk_size is not None and self.frames_chunk_size < 1:
            raise ValueError(f"ModelConfig.frames_chunk_size must be >= 1 or null, got {self.frames_chunk_size}")
        if self.frame_mass_chunk < 1:
            raise ValueError(f"ModelConfig.frame_mass_chunk must be >= 1, got {self.frame_mass_chunk}")
        if self.freeze_backbone not in FREEZE_BACKBONE_OPTIONS:
            raise ValueError(
                f"ModelConfig.freeze_backbone must be one of {FREEZE_BACKBONE_OPTIONS}, got {self.freeze_backbone!r}"
            )
        if self.freeze_backbone == "frozen":
            object.__setattr__(self, "lora_rank", 0)  # "frozen" means no LoRA either (docstring)
        if isinstance(self.query_layers, str):
            if self.query_layers not in QUERY_LAYER_PRESETS:
                raise ValueError(
                    f"ModelConfig.query_layers must be one of {QUERY_LAYER_PRESETS} or a list of ints, "
                    f"got {self.query_layers!r}"
                )
        else:
            # Lists from YAML become tuples so the dataclass stays hashable and immutable.
            object.__setattr__(self, "query_layers", tuple(int(i) for i in self.query_layers))


def resolve_query_layers(spec: str | tuple[int, ...] | list[int], depth: int) -> list[int]:
    """Aggregator layer indices (sorted, unique) that get a query block, for an aggregator of `depth` layers."""
    if isinstance(spec, str):
        if spec == "all":
            return list(range(depth))
        if spec == "early":
            return list(range(max(1, depth // 2)))
        if spec == "late":
            return list(range(depth // 2, depth))
        if spec == "interleaved":
            return list(range(0, depth, 2))
        raise ValueError(f"query_layers must be one of {QUERY_LAYER_PRESETS} or a list of ints, got {spec!r}")
    layers = sorted({int(i) for i in spec})
    if not layers:
        raise ValueError("query_layers is an empty list: give at least one aggregator layer index")
    bad = [i for i in layers if not 0 <= i < depth]
    if bad:
        raise ValueError(f"query_layers {bad} out of range for an aggregator with {depth} layers (0..{depth - 1})")
    return layers
