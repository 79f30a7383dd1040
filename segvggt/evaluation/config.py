"""Evaluation settings shared by validation, tools/eval.py and the end of synthetic training."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalConfig:
    split: str = "val"
    frame_stride: int = 20  # ScanNet frames every 20th, as the paper; synthetic configs use 1
    max_frames: int = 24
    max_scenes: int = 0  # 0 = every scene of the split
    score_threshold: float = 0.0
    top_k: int = 100
    mask_threshold: float = 0.5
    depth_tolerance: float = 0.2  # metres, OpenMask3D's visibility test
    geometry: str = "gt"  # "gt" = lift with ground-truth poses/depth; "predicted" = aligned predictions
    prompt_positive_clicks: int = 10
    prompt_negative_clicks: int = 2
    prompt_instances_per_scene: int = 8
    seed: int = 0
