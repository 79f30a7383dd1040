"""Selective activation checkpointing of the aggregator: keep the global attention's outputs.

With one gradient checkpoint per aggregator layer, the backward pass re-runs each layer's forward
before differentiating it. The most expensive op of that recomputation is the global attention: its
work grows with the square of the scene's tokens (S P), while the frame attention's grows with S P^2
and the matrices' with S P. For the scannet200 recipe (24 views of 518 px per scene) the global
attention's forward is about a third of the aggregator's attention time, and one whole recomputation
of it per step (~0.5 s of a 48-image step on an H200, benchmarks/results/profile_train_step_h200.log).

`keep_global_attention(P)` is a `context_fn` for `torch.utils.checkpoint.checkpoint` that keeps the
outputs of every fused attention op whose sequence is longer than one view's P tokens (the global
blocks': [B, heads, S P, d] in the autocast dtype, and its log-sum-exp), so the recomputation reuses
them instead of attending again. The frame attention, and everything else, is recomputed as before.
The gradients are exactly those of the plain checkpoint (the kept outputs are what recomputation would
have produced); the cost is S P C x 2 bytes (bf16) per layer and scene: 1.6 GB per 24 views of 518 px
for VGGT-1B's 24 layers. With one view (S = 1) nothing is kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

# The fused kernels F.scaled_dot_product_attention dispatches to (those this torch build has).
_ATTENTION_OPS = (
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_flash_attention_for_cpu",
)


def attention_ops() -> set:
    """The aten overloads of the fused attention kernels available in this torch."""
    return {getattr(torch.ops.aten, name).default for name in _ATTENTION_OPS if hasattr(torch.ops.aten, name)}


def keep_global_attention(frame_tokens: int) -> Callable[[], tuple]:
    """context_fn for a non-reentrant checkpoint: keep the outputs of attention over more than
    `frame_tokens` tokens (query shape [B, heads, L, d], L > frame_tokens), recompute the rest."""
    ops = attention_ops()

    def policy(ctx, op, *args, **kwargs) -> CheckpointPolicy:
        if op in ops and args[0].shape[-2] > frame_tokens:
            return CheckpointPolicy.MUST_SAVE
        return CheckpointPolicy.PREFER_RECOMPUTE

    return functools.partial(create_selective_checkpoint_contexts, policy)
