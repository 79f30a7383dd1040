"""Frame attention mass for FADA: how much of a query's cross-attention lands on each view.

For query q, head h and view s: mass[h, q, s] = sum over the tokens t of view s of softmax_t(q . k_t * scale).
The full softmax over S * P' tokens is never formed. Per chunk of views we take the log-sum-exp of the
scores over each view's tokens, lse_s; then mass_s = exp(lse_s - logsumexp_s(lse_s)). Only one chunk of
scores [B, heads, Q, chunk, P'] exists at a time; with gradients on, each chunk is checkpointed so the
backward pass recomputes it instead of keeping every chunk alive.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor
from torch.utils.checkpoint import checkpoint


def _chunk_log_sum_exp(q: Tensor, k_chunk: Tensor, scale: float) -> Tensor:
    """q: [B, h, Q, d]; k_chunk: [B, h, c, P', d]. Returns [B, h, Q, c] log-sum-exp of scores per view."""
    scores = torch.einsum("bhqd,bhcpd->bhqcp", q, k_chunk) * scale
    return scores.logsumexp(dim=-1)


def frame_attention_mass(q: Tensor, k: Tensor, num_frames: int, chunk_frames: int = 4) -> Tensor:
    """Attention probability mass per view, averaged over heads.

    Args:
        q: [B, h, Q, d] queries (already projected, per head).
        k: [B, h, S*P', d] keys of all views of a scene, view-major (token index = s * P' + p).
        num_frames: S.
        chunk_frames: views per chunk (bounds the transient memory to B*h*Q*chunk*P' scores).

    Returns:
        [B, Q, S] mass, each row sums to 1; computed in float32 whatever the input dtype.
    """
    scale = q.shape[-1] ** -0.5
    q = q.float()
    k = rearrange(k.float(), "b h (s p) d -> b h s p d", s=num_frames)
    use_checkpoint = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad)
    lse_per_chunk = []
    for start in range(0, num_frames, chunk_frames):
        k_chunk = k[:, :, start : start + chunk_frames]
        if use_checkpoint:
            lse_per_chunk.append(checkpoint(_chunk_log_sum_exp, q, k_chunk, scale, use_reentrant=False))
        else:
            lse_per_chunk.append(_chunk_log_sum_exp(q, k_chunk, scale))
    lse = torch.cat(lse_per_chunk, dim=-1)  # [B, h, Q, S]
    mass = torch.exp(lse - lse.logsumexp(dim=-1, keepdim=True))
    return mass.mean(dim=1)

