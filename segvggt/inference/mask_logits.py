"""Mask logits kept factorised: [N, S, h, w] = query embedding [N, D] . instance features [S, D, h, w].

Q x S x h x w logits are 5 GB in bf16 for Q = 100 queries on 500 views of 392 x 518 (and the old
post-processing made fp32 copies of them); the embeddings and the features they are made of are 5 KB
and the features the encoding keeps anyway. `MaskLogits` computes the logits a chunk of frames (or one
view) at a time, where the post-processing reads them, in the dtype of `SegVGGT`'s own mask head
(`QueryHeads.masks`), returned as float32.
"""

from __future__ import annotations

import torch
from torch import Tensor


class MaskLogits:
    """Looks like a read-only [N, S, h, w] float32 tensor to the post-processing.

    Args:
        embed: [N, D] mask embeddings (`QueryHeads.mask_embedding` of the queries).
        features: [S, D, h, w] instance features of one scene.

    Indexing: `m[rows]` (index tensor, list or slice of instances) -> MaskLogits of those rows;
    `m[:, view]` -> Tensor [N, h, w]; `m[:, s0:s1]` -> Tensor [N, s1 - s0, h, w]; `m[rows, frames]` likewise.
    """

    def __init__(self, embed: Tensor, features: Tensor) -> None:
        if embed.dim() != 2 or features.dim() != 4 or embed.shape[1] != features.shape[1]:
            raise ValueError(f"MaskLogits needs embed [N, D] and features [S, D, h, w], got "
                             f"{tuple(embed.shape)} and {tuple(features.shape)}")  # fmt: skip
        self.embed = embed
        self.features = features

    @property
    def shape(self) -> torch.Size:
        S, _, h, w = self.features.shape
        return torch.Size((self.embed.shape[0], S, h, w))

    @property
    def device(self) -> torch.device:
        return self.features.device

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def dim(self) -> int:
        return 4

    def __len__(self) -> int:
        return int(self.embed.shape[0])

    def __getitem__(self, index) -> "MaskLogits | Tensor":
        if not isinstance(index, tuple):
            return MaskLogits(self.embed[index], self.features)
        if len(index) != 2:
            raise IndexError("MaskLogits takes [rows] or [rows, frames]")
        rows, frames = index
        embed = self.embed[rows]
        if isinstance(frames, int):
            return self._logits(embed, self.features[frames : frames + 1])[:, 0]
        return self._logits(embed, self.features[frames])

    def float(self) -> Tensor:
        """All logits [N, S, h, w] float32 (materialised: for small scenes and tests)."""
        return self._logits(self.embed, self.features)

    def to_tensor(self) -> Tensor:
        return self.float()

    @staticmethod
    def _logits(embed: Tensor, features: Tensor) -> Tensor:
        """embed [N, D], features [F, D, h, w] -> [N, F, h, w] float32, computed as QueryHeads.masks does."""
        return torch.einsum("nd,sdhw->nshw", embed.to(features.dtype), features).float()
