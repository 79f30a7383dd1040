"""Evaluation settings shared by validation, tools/eval.py and the end of synthetic training."""

from __future__ import annotations

from dataclasses import dataclass

from segvggt.evaluation.ranking import RANKINGS


@dataclass(frozen=True)
class EvalConfig:
    split: str = "val"
    frame_stride: int = 20  # ScanNet frames every 20th, as the paper; synthetic configs use 1
    max_frames: int = 24  # frames per scene (0 = every frame at the stride); validation uses the same rule
    max_scenes: int = 0  # 0 = every scene of the split
    score_threshold: float = 0.0
    top_k: int = 100  # predictions per scene: queries ("per_query") or (query, class) pairs; 0 = num_queries
    ranking: str = "per_query"  # "per_query" (Mask2Former) | "topk_pairs" (Mask3D / OneFormer3D)
    mask_threshold: float = 0.5
    depth_tolerance: float = 0.2  # metres, OpenMask3D's visibility test
    geometry: str = "gt"  # "gt" = lift with ground-truth poses/depth; "predicted" = aligned predictions
    prompt_positive_clicks: int = 10  # MV-SAM: 10 positive + 2 negative clicks across views
    prompt_negative_clicks: int = 2
    prompt_instances_per_scene: int = 8  # objects drawn at random (seeded) among those >= 0.1 % of the image
    consistency_epsilon: float = 0.05  # metres: MastSAM's correspondence radius
    consistency_max_sources: int = 16384  # labelled pixels whose MastSAM consistency is averaged per scene
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ranking not in RANKINGS:
            raise ValueError(f"eval.ranking: {self.ranking!r} is not one of {', '.join(RANKINGS)}")
        if self.top_k < 0 or self.max_frames < 0 or self.frame_stride < 1:
            raise ValueError("eval: need top_k >= 0, max_frames >= 0 and frame_stride >= 1")
