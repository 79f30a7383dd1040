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
from einops import rearrange
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


def sample_patch_tokens(tokens: Tensor, grid_hw: tuple[int, int], clicks: ClickBatch, patch_size: int) -> Tensor:
    """Bilinear sample of the patch tokens at the clicked positions.

    Patch (row, col) sits at pixel centre ((col + 0.5) * patch, (row + 0.5) * patch); positions beyond the
    outer centres take the border patch (same as grid_sample(align_corners=False, padding_mode="border")).

    Args:
        tokens: [B, S, P', C] per-patch vectors (P' = h_p * w_p, row-major; any width C).
        grid_hw: (h_p, w_p) patch grid.
        clicks: ClickBatch with R prompts of N clicks.

    Returns:
        [B, R, N, C] sampled tokens (padding clicks sample patch 0 of view 0; mask them with click_valid).
    """
    grid_h, grid_w = grid_hw
    batch, frames = tokens.shape[:2]
    u = (clicks.xy[..., 0] / patch_size - 0.5).clamp(0, grid_w - 1)
    v = (clicks.xy[..., 1] / patch_size - 0.5).clamp(0, grid_h - 1)
    u0, v0 = u.floor().long(), v.floor().long()
    u1, v1 = (u0 + 1).clamp(max=grid_w - 1), (v0 + 1).clamp(max=grid_h - 1)
    wu, wv = (u - u0).unsqueeze(-1), (v - v0).unsqueeze(-1)
    flat = tokens.reshape(batch * frames * grid_h * grid_w, tokens.shape[-1])
    view = torch.arange(batch, device=tokens.device).view(batch, 1, 1) * frames + clicks.frame

    def at(row: Tensor, col: Tensor) -> Tensor:
        return flat[(view * grid_h + row) * grid_w + col].to(wu.dtype)

    top = at(v0, u0) * (1 - wu) + at(v0, u1) * wu
    bottom = at(v1, u0) * (1 - wu) + at(v1, u1) * wu
    return (top * (1 - wv) + bottom * wv).to(tokens.dtype)


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
        self, kv: Tensor, num_frames: int, grid_hw: tuple[int, int], clicks: ClickBatch,
        norm: nn.Module, proj: nn.Module, polarity: nn.Module,
    ) -> Tensor:
        views = rearrange(kv, "b (s p) c -> b s p c", s=num_frames)
        sampled = sample_patch_tokens(views, grid_hw, clicks, self.patch_size)  # [B, R, N, 2 Dq]
        per_click = proj(norm(sampled)) + polarity(clicks.positive)  # [B, R, N, Dq]
        weight = clicks.click_valid.unsqueeze(-1).to(per_click.dtype)
        return (per_click * weight).sum(dim=2) / weight.sum(dim=2).clamp(min=1)

    def initial(self, kv: Tensor, num_frames: int, grid_hw: tuple[int, int], clicks: ClickBatch) -> Tensor:
        """kv: [B, S*P', 2 Dq] keys/values of the first query layer. Returns [B, R, Dq] prompt queries."""
        return self.init_mlp(
            self._click_mean(kv, num_frames, grid_hw, clicks, self.init_norm, self.init_proj, self.init_polarity)
        )

    def refresh(self, kv: Tensor, num_frames: int, grid_hw: tuple[int, int], clicks: ClickBatch) -> Tensor:
        """kv: [B, S*P', 2 Dq] keys/values of the current query layer. Returns [B, R, Dq] to add."""
        return self._click_mean(
            kv, num_frames, grid_hw, clicks, self.refresh_norm, self.refresh_proj, self.refresh_polarity
        )
