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
            depend on the queries, so a new click reuses them). In training they are kept (bf16,
            2 Dq wide) rather than recomputed from the layers inside the query blocks' checkpoints:
            the backward pass would then hold every layer's C-wide fp32 token gradient at once
            (measured: +4.2 MB per layer and 518-px view, against 1.4 MB saved).
    """

    patch_start_idx: int
    instance_features: Tensor
    image_size: tuple[int, int]
    geometry: dict[str, Any]
    token_kv: list[Tensor]

    @property
    def batch_size(self) -> int:
        return int(self.instance_features.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.instance_features.shape[1])
