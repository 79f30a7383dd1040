"""SegVGGT: VGGT + object queries, frame attention mass, semantic DPT head, click prompts, LoRA.

Public API: `build_segvggt`, `SegVGGT`, `Encoded`, `ModelConfig`, `attach_lora`, `merge_lora`.
peft is imported only when LoRA is attached or merged.
"""

from segvggt.segmentation.config import ModelConfig, resolve_query_layers
from segvggt.segmentation.lora import attach_lora, merge_lora
from segvggt.segmentation.encoded import Encoded
from segvggt.segmentation.segvggt import NEW_MODULE_PREFIXES, SegVGGT, build_segvggt

__all__ = [
    "NEW_MODULE_PREFIXES",
    "Encoded",
    "ModelConfig",
    "SegVGGT",
    "attach_lora",
    "build_segvggt",
    "merge_lora",
    "resolve_query_layers",
]
