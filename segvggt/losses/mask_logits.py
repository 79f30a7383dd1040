"""Mask logits of one scene, read from full masks or computed from mask embeddings where needed.

SegVGGT's mask logit at a pixel is the dot product of a query's mask embedding [D] with the pixel's
instance feature [D]. In training the model returns the embeddings (`pred_mask_embed` [B, Q, D],
`prompt_mask_embed` [B, R, D]) instead of the logits [B, Q, S, h, w], and the criterion computes
logits only where it needs them: at the shared cost points for all queries, and, for the matched
rows, on all pixels without gradient (their importance sampling looks at every pixel) and with
gradient at each row's own loss points only (`pairs`: autograd keeps the point indices, not an
[X, S*h*w] map). With full masks in the outputs (`pred_masks`, `prompt_masks`, e.g. at evaluation)
the same accessors read them.
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

    def pairs(self, rows: Tensor, points: Tensor) -> Tensor:
        """rows [X], points [X, M] flat indices, one list per row -> [X, M] float32 logits (differentiable).

        Equals `full(rows).gather(1, points)`, but with embeddings the backward pass keeps only the
        indices (see PointLogits), not the [X, P] logits that gather would save."""
        if self.masks is not None:
            return self.masks[rows].flatten(1).gather(1, points).float()
        embed = self.embed[rows].to(self.features.dtype)
        return PointLogits.apply(embed, self.features.flatten(2), points).float()

    def _num_rows(self) -> int:
        return int((self.masks if self.masks is not None else self.embed).shape[0])

    def _device(self) -> torch.device:
        return (self.masks if self.masks is not None else self.embed).device


class PointLogits(torch.autograd.Function):
    """logits[x, m] = embed[x] . features[s, :, k] with (s, k) = divmod(points[x, m], h*w).

    Shapes: embed [X, D], features [S, D, h*w], points [X, M] (int64) -> [X, M] in features' dtype.
    The gathered features [X, M, D] exist only inside forward and backward; autograd saves the
    inputs (which the model holds anyway) and the indices.
    """

    @staticmethod
    def forward(ctx, embed: Tensor, features: Tensor, points: Tensor) -> Tensor:
        gathered = _gather_points(features, points)  # [X, M, D]
        ctx.save_for_backward(embed, features, points)
        return torch.bmm(gathered, embed.to(gathered.dtype)[:, :, None]).squeeze(-1)

    @staticmethod
    def backward(ctx, grad: Tensor):
        embed, features, points = ctx.saved_tensors
        grad_embed = grad_features = None
        if ctx.needs_input_grad[0]:
            gathered = _gather_points(features, points)
            grad_embed = torch.bmm(grad.to(gathered.dtype)[:, None, :], gathered).squeeze(1).to(embed.dtype)
        if ctx.needs_input_grad[1]:
            S, D, HW = features.shape
            # Summed in fp32 at least: a pixel chosen by several rows receives several contributions.
            acc = torch.promote_types(features.dtype, torch.float32)
            contrib = grad.to(acc)[:, :, None] * embed.to(acc)[:, None, :]  # [X, M, D]
            flat = torch.zeros(S * HW, D, dtype=acc, device=features.device)
            flat.index_add_(0, points.reshape(-1), contrib.reshape(-1, D))
            grad_features = flat.reshape(S, HW, D).transpose(1, 2).to(features.dtype)
        return grad_embed, grad_features, None


def _gather_points(features: Tensor, points: Tensor) -> Tensor:
    """features [S, D, HW], points [X, M] flat indices into S*HW -> [X, M, D]."""
    S, D, HW = features.shape
    return features.transpose(1, 2).reshape(S * HW, D)[points]
