"""Mask logits of one scene, read from full masks or computed from mask embeddings where needed.

SegVGGT's mask logit at a pixel is the dot product of a query's mask embedding [D] with the pixel's
instance feature [D]. In training the model returns the embeddings (`pred_mask_embed` [B, Q, D],
`prompt_mask_embed` [B, R, D]) instead of the logits [B, Q, S, h, w], and the criterion computes
logits only where it needs them: at the shared cost points for all queries, and on all pixels for
the matched rows only (their importance sampling looks at every pixel). With full masks in the
outputs (`pred_masks`, `prompt_masks`, e.g. at evaluation) the same accessors read them.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor


class SceneMaskLogits:
    """Logits of scene `b`'s queries (kind "pred") or prompts (kind "prompt").

    Args:
        outputs: model outputs with `{kind}_masks` [B, X, S, h, w], or `{kind}_mask_embed` [B, X, D]
            and `instance_features` [B, S, D, h, w].
        kind: "pred" or "prompt".
        b: scene index.
    """

    def __init__(self, outputs: Mapping[str, Tensor], kind: str, b: int) -> None:
        masks = outputs.get(f"{kind}_masks")
        if isinstance(masks, Tensor):
            self.masks, self.embed, self.features = masks[b], None, None
            S, h, w = masks.shape[2:]
        else:
            embed, features = outputs.get(f"{kind}_mask_embed"), outputs.get("instance_features")
            if not isinstance(embed, Tensor) or not isinstance(features, Tensor):
                raise ValueError(f"outputs hold neither {kind}_masks nor {kind}_mask_embed + instance_features")
            self.masks, self.embed, self.features = None, embed[b], features[b]
            S, _, h, w = features.shape[1:]
        self.shape = (int(S), int(h), int(w))

    @property
    def num_pixels(self) -> int:
        """P = S*h*w, the length of one flattened multi-view mask."""
        S, h, w = self.shape
        return S * h * w

    def full(self, rows: Tensor) -> Tensor:
        """rows [X] -> [X, P] float32 logits on every pixel (differentiable)."""
        if self.masks is not None:
            return self.masks[rows].flatten(1).float()
        # In the features' dtype (bf16 in mixed-precision training): autograd then keeps the features
        # it already holds, not an fp32 copy of them; only the [X, P] result is float32.
        embed = self.embed[rows].to(self.features.dtype)
        return torch.einsum("xd,sdhw->xshw", embed, self.features).flatten(1).float()

    def at(self, rows: Tensor | None, points: Tensor | None) -> Tensor:
        """rows [X] (None = all), points [M] shared flat indices (None = all pixels) -> [X, M] float32."""
        if points is None:
            all_rows = torch.arange(self._num_rows(), device=self._device())
            return self.full(all_rows if rows is None else rows)
        if self.masks is not None:
            masks = self.masks if rows is None else self.masks[rows]
            return masks.flatten(1)[:, points].float()
        S, h, w = self.shape
        embed = self.embed if rows is None else self.embed[rows]
        features = self.features.flatten(2)[points // (h * w), :, points % (h * w)]  # [M, D]
        return (embed.float() @ features.float().T)

    def _num_rows(self) -> int:
        return int((self.masks if self.masks is not None else self.embed).shape[0])

    def _device(self) -> torch.device:
        return (self.masks if self.masks is not None else self.embed).device
