"""Point prompts: clicks -> one extra query per prompt, refreshed from the image tokens at every query block
(read through the query blocks' cached keys/values, see PromptEncoder).

A prompt is a list of clicks `(frame, x, y, positive)` in input pixels (x right, y down), possibly on
several views of the scene, with at least one positive click: negative clicks only say what is not the
object, so a prompt of negatives alone names no object and is refused. `prompts` for a batch is a list
with one entry per scene, each a list of prompts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from segvggt.segmentation.query_block import QueryMlp

Click = tuple[int, float, float, bool]
Prompts = Sequence[Sequence[Sequence[Click]]]


@dataclass(frozen=True)
class ClickBatch:
    """Clicks of a batch, padded to R prompts per scene and N clicks per prompt.

    Attributes:
        frame: [B, R, N] int64 view index of each click.
        xy: [B, R, N, 2] float32 (x, y) in input pixels.
        positive: [B, R, N] int64, 1 = positive click, 0 = negative.
        click_valid: [B, R, N] bool, False for padding.
        prompt_valid: [B, R] bool, False for padding prompts.
    """

    frame: Tensor
    xy: Tensor
    positive: Tensor
    click_valid: Tensor
    prompt_valid: Tensor

    @property
    def num_prompts(self) -> int:
        return int(self.frame.shape[1])


def parse_prompts(
    prompts: Prompts, batch_size: int, num_frames: int, image_size: tuple[int, int], device: torch.device
) -> ClickBatch:
    """Validate the clicks and pad them into tensors.

    Args:
        prompts: one list per scene of prompts, each a non-empty list of (frame, x, y, positive).
        batch_size: B; num_frames: S; image_size: (H, W) of the input images.

    Raises:
        ValueError naming the scene, prompt and click when a frame index is not in [0, S) or (x, y) lies
        outside the image ([0, W] x [0, H]), when a prompt has no positive click, or when the structure
        is wrong.
    """
    height, width = image_size
    if len(prompts) != batch_size:
        raise ValueError(f"prompts has {len(prompts)} entries but the batch has {batch_size} scenes: give one list per scene")
    num_prompts = max((len(p) for p in prompts), default=0)
    num_clicks = 1
    for b, scene_prompts in enumerate(prompts):
        for r, prompt in enumerate(scene_prompts):
            if len(prompt) == 0:
                raise ValueError(f"scene {b}, prompt {r} has no clicks: a prompt needs at least one (frame, x, y, positive)")
            if all(len(click) == 4 for click in prompt) and not any(bool(click[3]) for click in prompt):
                raise ValueError(f"scene {b}, prompt {r} has only negative clicks: add at least one positive click on the object")
            num_clicks = max(num_clicks, len(prompt))
    frame = torch.zeros(batch_size, num_prompts, num_clicks, dtype=torch.long)
    xy = torch.zeros(batch_size, num_prompts, num_clicks, 2)
    positive = torch.zeros(batch_size, num_prompts, num_clicks, dtype=torch.long)
    click_valid = torch.zeros(batch_size, num_prompts, num_clicks, dtype=torch.bool)
    for b, scene_prompts in enumerate(prompts):
        for r, prompt in enumerate(scene_prompts):
            for n, click in enumerate(prompt):
                where = f"scene {b}, prompt {r}, click {n} {tuple(click)!r}"
                if len(click) != 4:
                    raise ValueError(f"{where}: a click is (frame, x, y, positive)")
                f, x, y, pos = click
                if int(f) != f or not 0 <= int(f) < num_frames:
                    raise ValueError(f"{where}: frame {f} is not a view index in [0, {num_frames})")
                if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= width and 0 <= y <= height):
                    raise ValueError(
                        f"{where}: (x={x}, y={y}) is outside the {width}x{height} image (pixels, x right, y down)"
                    )
                frame[b, r, n] = int(f)
                xy[b, r, n, 0], xy[b, r, n, 1] = float(x), float(y)
                positive[b, r, n] = int(bool(pos))
                click_valid[b, r, n] = True
    prompt_valid = click_valid.any(dim=-1)
    return ClickBatch(
        frame.to(device), xy.to(device), positive.to(device), click_valid.to(device), prompt_valid.to(device)
    )


@dataclass(frozen=True)
class ClickSampling:
    """Where the clicks read a per-view patch grid (bilinear, the four neighbouring patches).

    Attributes:
        index: [B, R, N, 4] int64 rows of the flattened [B*S*P', C] patch tokens (corners in the order
            (top, left), (top, right), (bottom, left), (bottom, right)).
        weight: [B, R, N, 4] float32 bilinear weights (they sum to 1 per click).
    """

    index: Tensor
    weight: Tensor


def click_sampling(clicks: ClickBatch, grid_hw: tuple[int, int], num_frames: int, patch_size: int) -> ClickSampling:
    """The bilinear read of `sample_patch_tokens`, computed once for any number of token maps.

    Patch (row, col) sits at pixel centre ((col + 0.5) * patch, (row + 0.5) * patch); positions beyond the
    outer centres take the border patch (same as grid_sample(align_corners=False, padding_mode="border")).
    Padding clicks read patch 0 of view 0 (mask them with click_valid).
    """
    grid_h, grid_w = grid_hw
    batch = clicks.frame.shape[0]
    u = (clicks.xy[..., 0] / patch_size - 0.5).clamp(0, grid_w - 1)
    v = (clicks.xy[..., 1] / patch_size - 0.5).clamp(0, grid_h - 1)
    u0, v0 = u.floor().long(), v.floor().long()
    u1, v1 = (u0 + 1).clamp(max=grid_w - 1), (v0 + 1).clamp(max=grid_h - 1)
    wu, wv = u - u0, v - v0
    view = torch.arange(batch, device=u.device).view(batch, 1, 1) * num_frames + clicks.frame
    rows = torch.stack([v0, v0, v1, v1], dim=-1)
    cols = torch.stack([u0, u1, u0, u1], dim=-1)
    index = (view.unsqueeze(-1) * grid_h + rows) * grid_w + cols
    weight = torch.stack([(1 - wu) * (1 - wv), wu * (1 - wv), (1 - wu) * wv, wu * wv], dim=-1)
    return ClickSampling(index, weight)


def sample_at(tokens: Tensor, sampling: ClickSampling) -> Tensor:
    """tokens [B, S*P', C] (or [B, S, P', C]) -> [B, R, N, C] bilinear samples at the clicks, in tokens' dtype."""
    flat = tokens.reshape(-1, tokens.shape[-1])
    corners = flat[sampling.index].to(sampling.weight.dtype)  # [B, R, N, 4, C]
    return torch.einsum("brnkc,brnk->brnc", corners, sampling.weight).to(tokens.dtype)


def sample_patch_tokens(tokens: Tensor, grid_hw: tuple[int, int], clicks: ClickBatch, patch_size: int) -> Tensor:
    """Bilinear sample of the patch tokens at the clicked positions (see `click_sampling`).

    Args:
        tokens: [B, S, P', C] per-patch vectors (P' = h_p * w_p, row-major; any width C).
        grid_hw: (h_p, w_p) patch grid.
        clicks: ClickBatch with R prompts of N clicks.

    Returns:
        [B, R, N, C] sampled tokens (padding clicks sample patch 0 of view 0; mask them with click_valid).
    """
    return sample_at(tokens, click_sampling(clicks, grid_hw, tokens.shape[1], patch_size))


class PromptEncoder(nn.Module):
    """Builds and refreshes prompt queries from the query blocks' keys/values under their clicks.

    initial(kv_0, clicks) = MLP(mean over clicks of (proj(norm(kv_0 at click)) + polarity embedding))
    refresh(kv_l, clicks) = mean over clicks of (proj'(norm'(kv_l at click)) + polarity' embedding),
    added to the prompt queries before every query block l (the first included).

    The prompts read the keys/values [B, S*P', 2 Dq] that `SegVGGT.encode` keeps for the query blocks
    anyway (the same patch tokens, projected to 2 Dq), so no C-wide aggregator output has to be kept
    for clicks that arrive after the encoding.

    Args:
        dim: Dq (the keys/values are 2 Dq wide); patch_size: pixels per patch side.
    """

    def __init__(self, dim: int, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.init_norm = nn.LayerNorm(2 * dim)
        self.init_proj = nn.Linear(2 * dim, dim)
        self.init_polarity = nn.Embedding(2, dim)
        self.init_mlp = QueryMlp(dim, 2 * dim)
        self.refresh_norm = nn.LayerNorm(2 * dim)
        self.refresh_proj = nn.Linear(2 * dim, dim)
        self.refresh_polarity = nn.Embedding(2, dim)

    def _click_mean(
        self, sampled: Tensor, clicks: ClickBatch, norm: nn.Module, proj: nn.Module, polarity: nn.Module
    ) -> Tensor:
        """sampled [..., B, R, N, 2 Dq] keys/values under the clicks -> [..., B, R, Dq] mean over valid clicks."""
        per_click = proj(norm(sampled)) + polarity(clicks.positive)  # [..., B, R, N, Dq]
        weight = clicks.click_valid.unsqueeze(-1).to(per_click.dtype)
        return (per_click * weight).sum(dim=-2) / weight.sum(dim=-2).clamp(min=1)

    def sampling(self, clicks: ClickBatch, num_frames: int, grid_hw: tuple[int, int]) -> ClickSampling:
        """Where the clicks read the keys/values (shared by every layer)."""
        return click_sampling(clicks, grid_hw, num_frames, self.patch_size)

    def initial(
        self, kv: Tensor, num_frames: int, grid_hw: tuple[int, int], clicks: ClickBatch,
        sampling: ClickSampling | None = None,
    ) -> Tensor:
        """kv: [B, S*P', 2 Dq] keys/values of the first query layer. Returns [B, R, Dq] prompt queries.
        sampling: `self.sampling(clicks, ...)` when the caller has it already."""
        sampled = sample_at(kv, sampling or self.sampling(clicks, num_frames, grid_hw))
        return self.init_mlp(self._click_mean(sampled, clicks, self.init_norm, self.init_proj, self.init_polarity))

    def refresh(self, kv: Tensor, num_frames: int, grid_hw: tuple[int, int], clicks: ClickBatch) -> Tensor:
        """kv: [B, S*P', 2 Dq] keys/values of the current query layer. Returns [B, R, Dq] to add."""
        sampled = sample_at(kv, self.sampling(clicks, num_frames, grid_hw))
        return self._click_mean(sampled, clicks, self.refresh_norm, self.refresh_proj, self.refresh_polarity)

    def refresh_layers(self, kvs: Sequence[Tensor], sampling: ClickSampling, clicks: ClickBatch) -> Tensor:
        """`refresh` of every layer at once: kvs L x [B, S*P', 2 Dq] -> [L, B, R, Dq].

        The refresh reads only the keys/values (never the prompt queries), so all layers are sampled
        first and normalised / projected in one batch: a few kernels instead of a few per layer.
        """
        sampled = torch.stack([sample_at(kv, sampling) for kv in kvs])  # [L, B, R, N, 2 Dq]
        return self._click_mean(sampled, clicks, self.refresh_norm, self.refresh_proj, self.refresh_polarity)
