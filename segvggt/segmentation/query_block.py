"""Query block: object (and prompt) queries read the multi-view image tokens of one aggregator layer.

One block runs after the global-attention block of each selected aggregator layer:
    x = x + CrossAttn(norm(x), tokens of ALL views)     (queries -> image tokens, read-only)
    x = x + SelfAttn(norm(x), mask)                       (among queries)
    x = x + MLP(norm(x))
The image tokens are never written, so the backbone runs exactly as VGGT does and one encoding can be
decoded many times (see SegVGGT.encode / decode).

Keys/values are the global-block PATCH tokens only (the camera and register tokens are left out): the
attention mass per view then measures how much of a query looks at the pixels of that view, which is what
FADA compares with the instance's visible-pixel share, and register tokens cannot act as attention sinks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from segvggt.segmentation.frame_mass import frame_attention_mass


class QueryMlp(nn.Module):
    """Two-layer GELU MLP on [..., dim]."""

    def __init__(self, dim: int, hidden: int, out_dim: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, out_dim or dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class QueryBlock(nn.Module):
    """Cross-attention to all views' tokens, self-attention among queries, MLP (pre-norm, residual).

    Args:
        dim: query width Dq.
        token_dim: C, width of the aggregator tokens (projected to Dq for keys and values).
        num_heads: attention heads (divides dim).
        mlp_ratio: MLP hidden width / dim.
    """

    def __init__(self, dim: int, token_dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"query dim {dim} is not divisible by query_heads {num_heads}")
        self.num_heads = num_heads
        self.cross_norm = nn.LayerNorm(dim)
        self.token_norm = nn.LayerNorm(token_dim)
        self.cross_q = nn.Linear(dim, dim)
        self.cross_kv = nn.Linear(token_dim, 2 * dim)
        self.cross_proj = nn.Linear(dim, dim)
        self.self_norm = nn.LayerNorm(dim)
        self.self_qkv = nn.Linear(dim, 3 * dim)
        self.self_proj = nn.Linear(dim, dim)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = QueryMlp(dim, int(dim * mlp_ratio))

    def token_kv(self, tokens: Tensor) -> Tensor:
        """tokens [B, S, P', C] -> keys and values [B, S*P', 2 Dq] of the cross-attention.

        They do not depend on the queries, so `SegVGGT.encode` computes them once per image set
        and every later `decode` (a new click) skips this, the largest part of a query block.
        """
        return self.cross_kv(self.token_norm(rearrange(tokens, "b s p c -> b (s p) c")))

    def forward(
        self,
        queries: Tensor,
        kv: Tensor,
        num_frames: int,
        self_attn_mask: Tensor | None = None,
        mass_queries: int = 0,
        mass_chunk: int = 4,
    ) -> tuple[Tensor, Tensor | None]:
        """Update the queries with one aggregator layer.

        Args:
            queries: [B, N, Dq] (N = Q object queries, then R prompt queries).
            kv: [B, S*P', 2 Dq] `token_kv` of this layer's global-block patch tokens (P' per view).
            num_frames: S.
            self_attn_mask: [N, N] bool, True = may attend (row = query, column = key); None = all pairs.
            mass_queries: compute the frame attention mass of the first `mass_queries` queries (0 = skip).
            mass_chunk: views per chunk in the mass computation.

        Returns:
            queries [B, N, Dq], and frame mass [B, mass_queries, S] (rows sum to 1) or None.
        """
        heads = self.num_heads
        q = rearrange(self.cross_q(self.cross_norm(queries)), "b n (h d) -> b h n d", h=heads)
        k, v = rearrange(kv, "b t (two h d) -> two b h t d", two=2, h=heads)
        attended = F.scaled_dot_product_attention(q, k, v)
        queries = queries + self.cross_proj(rearrange(attended, "b h n d -> b n (h d)"))

        mass = None
        if mass_queries > 0:
            mass = frame_attention_mass(q[:, :, :mass_queries], k, num_frames, mass_chunk)

        qkv = self.self_qkv(self.self_norm(queries))
        sq, sk, sv = rearrange(qkv, "b n (three h d) -> three b h n d", three=3, h=heads)
        attended = F.scaled_dot_product_attention(sq, sk, sv, attn_mask=self_attn_mask)
        queries = queries + self.self_proj(rearrange(attended, "b h n d -> b n (h d)"))
        queries = queries + self.mlp(self.mlp_norm(queries))
        return queries, mass


def prompt_isolation_mask(num_queries: int, num_prompts: int, device: torch.device) -> Tensor:
    """Self-attention mask [Q+R, Q+R] (True = may attend) that keeps every prompt's answer independent.

    Object queries see only object queries (so their outputs do not change when prompts are added);
    each prompt query sees the object queries (scene context) and itself, never another prompt.
    """
    n = num_queries + num_prompts
    allowed = torch.zeros(n, n, dtype=torch.bool, device=device)
    allowed[:, :num_queries] = True
    allowed[num_queries:, num_queries:] = torch.eye(num_prompts, dtype=torch.bool, device=device)
    return allowed
