"""What `SegVGGT.encode` returns: everything the decoder reads, computed once per set of images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor


@dataclass
class Encoded:
    """The cacheable result of `SegVGGT.encode` (everything `decode` needs; no backbone code runs again).

    Only what the decoder reads is kept: per query layer the cross-attention keys/values (2 Dq wide,
    in the compute dtype), not the aggregator's [B, S, P, 2C] fp32 outputs; the prompt queries are
    read from the same keys/values.

    Attributes:
        patch_start_idx: index of the first patch token in P (5 for VGGT).
        instance_features: [B, S, D, h, w] semantic DPT head output.
        image_size: (H, W) of the input images.
        geometry: VGGT head outputs (pose_enc, pose_enc_list, depth, depth_conf, world_points, ...).
        token_kv: L x [B, S*P', 2 Dq] keys/values of each query block's cross-attention (they do not
            depend on the queries, so a new click reuses them). Empty when `layer_tokens` is set.
        layer_tokens: training with checkpointing only: L x [B, S, P', C] views of the patch tokens of
            each query layer (the aggregator's checkpoints keep them anyway); each query block then
            projects its keys/values inside its own checkpoint, so they are never stored
            (L x 1.4 MB per 518-px view). None otherwise.
    """

    patch_start_idx: int
    instance_features: Tensor
    image_size: tuple[int, int]
    geometry: dict[str, Any]
    token_kv: list[Tensor]
    layer_tokens: list[Tensor] | None = None

    @property
    def batch_size(self) -> int:
        return int(self.instance_features.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.instance_features.shape[1])
