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

`forward` runs object and prompt queries together; `forward_objects` also returns the queries'
self-attention keys/values and `forward_prompts` runs prompt queries alone against such cached keys/values
of the object queries (see query_cache.py), with the same result for the prompts.
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
        queries, mass, _ = self.forward_objects(queries, kv, num_frames, self_attn_mask, mass_queries, mass_chunk)
        return queries, mass

    def forward_objects(
        self,
        queries: Tensor,
        kv: Tensor,
        num_frames: int,
        self_attn_mask: Tensor | None = None,
        mass_queries: int = 0,
        mass_chunk: int = 4,
    ) -> tuple[Tensor, Tensor | None, tuple[Tensor, Tensor]]:
        """`forward`, also returning the self-attention keys and values of the queries,
        ([B, heads, N, Dq/heads], [B, heads, N, Dq/heads]): what a prompt query reads from them in
        `forward_prompts`."""
        queries, q, k = self._cross(queries, kv)
        mass = None
        if mass_queries > 0:
            mass = frame_attention_mass(q[:, :, :mass_queries], k, num_frames, mass_chunk)
        sq, sk, sv = self._self_qkv(queries)
        attended = F.scaled_dot_product_attention(sq, sk, sv, attn_mask=self_attn_mask)
        return self._finish(queries, attended), mass, (sk, sv)

    def forward_prompts(
        self, prompts: Tensor, kv: Tensor, object_kv: tuple[Tensor, Tensor], self_attn_mask: Tensor
    ) -> Tensor:
        """Update prompt queries alone, reading the object queries' cached self-attention keys/values.

        Equals the prompt rows of `forward` on [object queries, prompts] with `prompt_isolation_mask`:
        object queries never read prompts, so their keys/values at this block are those of a run
        without prompts (`forward_objects`), and the prompts need nothing else from them.

        Args:
            prompts: [B, R, Dq] prompt queries.
            kv: [B, S*P', 2 Dq] `token_kv` of this layer.
            object_kv: (keys, values) [B, heads, Q, Dq/heads] of the object queries at this block.
            self_attn_mask: [R, Q+R] the prompt rows of `prompt_isolation_mask(Q, R)`: bool (True = may
                attend) or additive (0 / -inf, in the attention's dtype).

        Returns:
            [B, R, Dq] updated prompt queries.
        """
        prompts = self._cross(prompts, kv)[0]
        sq, sk, sv = self._self_qkv(prompts)
        keys = torch.cat([object_kv[0].to(sk.dtype), sk], dim=2)
        values = torch.cat([object_kv[1].to(sv.dtype), sv], dim=2)
        attended = F.scaled_dot_product_attention(sq, keys, values, attn_mask=self_attn_mask)
        return self._finish(prompts, attended)

    def _cross(self, queries: Tensor, kv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """queries [B, N, Dq], kv [B, S*P', 2 Dq] -> (queries after the cross-attention residual,
        per-head cross-attention queries [B, heads, N, Dq/heads] and keys [B, heads, S*P', Dq/heads])."""
        heads = self.num_heads
        q = rearrange(self.cross_q(self.cross_norm(queries)), "b n (h d) -> b h n d", h=heads)
        k, v = rearrange(kv, "b t (two h d) -> two b h t d", two=2, h=heads)
        attended = F.scaled_dot_product_attention(q, k, v)
        return queries + self.cross_proj(rearrange(attended, "b h n d -> b n (h d)")), q, k

    def _self_qkv(self, queries: Tensor) -> Tensor:
        """queries [B, N, Dq] -> stacked self-attention q, k, v [3, B, heads, N, Dq/heads]."""
        qkv = self.self_qkv(self.self_norm(queries))
        return rearrange(qkv, "b n (three h d) -> three b h n d", three=3, h=self.num_heads)

    def _finish(self, queries: Tensor, attended: Tensor) -> Tensor:
        """Self-attention residual ([B, heads, N, Dq/heads] attended values) and the MLP residual."""
        queries = queries + self.self_proj(rearrange(attended, "b h n d -> b n (h d)"))
        return queries + self.mlp(self.mlp_norm(queries))


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
