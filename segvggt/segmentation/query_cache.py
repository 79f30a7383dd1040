"""What click prompts read from the object queries, cached once per encoding.

Object queries never attend to prompts (`prompt_isolation_mask`), so their states at every query block
are the same with or without clicks. A prompt query reads them in exactly one place: the self-attention
of each block, through the object queries' keys and values there. Keeping those (L x 2 x [B, heads, Q,
Dq/heads], about 2.4 MB for VGGT-1B with Q = 100, Dq = 256 in bf16) lets a click run only its R prompt
queries through the blocks (`SegVGGT.decode(..., cache=...)`) instead of Q + R.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class ObjectQueryCache:
    """The object queries of one encoding, per query layer (see `SegVGGT.object_query_cache`).

    Attributes:
        self_kv: L x (keys, values), each [B, heads, Q, Dq/heads]: the object queries' self-attention
            keys and values at each query block.
        queries: [B, Q, Dq] the object queries after the last block (class logits and mask embeddings
            are computed from them).
        frame_mass: [L, B, Q, S] frame attention mass of the object queries, or None when not asked.
    """

    self_kv: list[tuple[Tensor, Tensor]]
    queries: Tensor
    frame_mass: Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.queries.shape[0])

    @property
    def num_queries(self) -> int:
        return int(self.queries.shape[1])

    def nbytes(self) -> int:
        """Bytes held by the cache."""
        tensors = [t for pair in self.self_kv for t in pair] + [self.queries]
        if self.frame_mass is not None:
            tensors.append(self.frame_mass)
        return sum(t.numel() * t.element_size() for t in tensors)
