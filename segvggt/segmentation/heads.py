"""Query heads: class logits, per-view mask logits and prompt confidence from the final queries."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MaskEmbedMlp(nn.Module):
    """Three-layer ReLU MLP Dq -> Dq -> Dq -> D projecting a query into the instance-feature space."""

    def __init__(self, dim: int, mask_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, mask_dim)])

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class QueryHeads(nn.Module):
    """Decode normalised queries into classes, masks on every view and (for prompts) a confidence.

    Args:
        dim: Dq query width; mask_dim: D instance-feature channels; num_classes: K (K+1 logits, last = none).
    """

    def __init__(self, dim: int, mask_dim: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.class_mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, num_classes + 1))
        self.mask_embed = MaskEmbedMlp(dim, mask_dim)
        self.score_mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 1))

    def mask_embedding(self, queries: Tensor) -> Tensor:
        """queries: [B, N, Dq] (not yet normalised). Returns [B, N, D]: a pixel's mask logit is this
        embedding's dot product with the pixel's instance feature."""
        return self.mask_embed(self.norm(queries))

    def masks(self, queries: Tensor, instance_features: Tensor) -> Tensor:
        """queries: [B, N, Dq] (not yet normalised); instance_features: [B, S, D, h, w].

        Returns [B, N, S, h, w] mask logits (dot product of the projected query with every pixel feature).
        """
        embed = self.mask_embedding(queries).to(instance_features.dtype)
        return torch.einsum("bqd,bsdhw->bqshw", embed, instance_features)

    def class_logits(self, queries: Tensor) -> Tensor:
        """queries: [B, Q, Dq]. Returns [B, Q, K+1] class logits (last = no object)."""
        return self.class_mlp(self.norm(queries))

    def prompt_scores(self, queries: Tensor) -> Tensor:
        """queries: [B, R, Dq]. Returns [B, R] confidence logits."""
        return self.score_mlp(self.norm(queries)).squeeze(-1)
