"""Patch embedders of the aggregator: a single strided conv, or the DINOv2 ViT with registers.

Both map images [B*S, 3, H, W] (ImageNet-normalised) to patch tokens [B*S, h*w, C] in row-major
order (token index = row * w + col), h = H / 14, w = W / 14.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from segvggt.backbone.config import DinoConfig
from segvggt.backbone.layers import Block


def _check_divisible(H: int, W: int, patch_size: int) -> None:
    if H % patch_size or W % patch_size:
        raise ValueError(f"image size {H}x{W} must be a multiple of the patch size {patch_size}")


def sincos_position_embedding_2d(h: int, w: int, dim: int, device=None) -> Tensor:
    """Fixed 2D sin-cos positions [h*w, dim] in row-major token order (MAE's layout): the first half of
    the channels encodes the row, the second the column, each as sin / cos at dim / 4 frequencies
    1 / 10000^(k / (dim / 4)). dim must be a multiple of 4."""
    if dim % 4:
        raise ValueError(f"sin-cos position embedding needs a width divisible by 4, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float32, device=device) / (dim // 4))
    rows = torch.arange(h, dtype=torch.float32, device=device).repeat_interleave(w)  # [h*w]
    cols = torch.arange(w, dtype=torch.float32, device=device).repeat(h)
    parts = []
    for pos in (rows, cols):
        angle = pos[:, None] * omega[None]  # [h*w, dim/4]
        parts += [angle.sin(), angle.cos()]
    return torch.cat(parts, dim=1)


class PatchEmbed(nn.Module):
    """Conv k = s = patch_size. Images [N, 3, H, W] -> tokens [N, h*w, C]. Key: `proj`."""

    def __init__(self, patch_size: int, embed_dim: int, in_chans: int = 3):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: Tensor) -> Tensor:
        _check_divisible(images.shape[-2], images.shape[-1], self.patch_size)
        return rearrange(self.proj(images), "n c h w -> n (h w) c")


class DinoVisionTransformer(nn.Module):
    """DINOv2 ViT with register tokens, as fine-tuned inside VGGT ("dinov2_vitl14_reg").

    Token sequence: [cls, registers, patches]; the learned position embedding (a square grid of
    (img_size / patch)^2 cells plus the cls cell) is added to cls and patches only. The grid is
    resized (bicubic, antialias, explicit output size) unless the input is exactly the square
    training size. `mask_token` exists only for checkpoint compatibility (never used).
    """

    def __init__(self, cfg: DinoConfig):
        super().__init__()
        if cfg.ffn_layer != "mlp":
            raise ValueError(f"only the plain MLP DINOv2 variant is supported, got ffn_layer={cfg.ffn_layer!r}")
        if cfg.block_chunks != 0:
            raise ValueError("DINOv2 block_chunks must be 0 (VGGT checkpoints use flat `blocks.{i}` keys)")
        self.cfg = cfg
        self.patch_size = cfg.patch_size
        self.num_register_tokens = cfg.num_register_tokens
        grid = cfg.img_size // cfg.patch_size
        C = cfg.embed_dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, C))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, C))
        self.register_tokens = nn.Parameter(torch.zeros(1, cfg.num_register_tokens, C))
        self.mask_token = nn.Parameter(torch.zeros(1, C), requires_grad=False)
        self.patch_embed = PatchEmbed(cfg.patch_size, C)
        self.blocks = nn.ModuleList(
            Block(
                C,
                cfg.num_heads,
                mlp_ratio=cfg.mlp_ratio,
                qkv_bias=cfg.qkv_bias,
                proj_bias=cfg.proj_bias,
                ffn_bias=cfg.ffn_bias,
                init_values=cfg.init_values,
                norm_eps=1e-6,
            )
            for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(C, eps=1e-6)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        nn.init.normal_(self.register_tokens, std=1e-6)

    def interpolate_pos_encoding(self, H: int, W: int, dtype: torch.dtype) -> Tensor:
        """Position embedding for an H x W input: [1, 1 + h*w, C]."""
        h, w = H // self.patch_size, W // self.patch_size
        stored = self.pos_embed.shape[1] - 1
        if h * w == stored and H == W:
            return self.pos_embed
        M = int(round(stored**0.5))
        pos = self.pos_embed.float()
        grid = rearrange(pos[:, 1:], "1 (m n) c -> 1 c m n", m=M, n=M)
        offset = self.cfg.interpolate_offset
        size_kw = {"scale_factor": ((h + offset) / M, (w + offset) / M)} if offset else {"size": (h, w)}
        grid = F.interpolate(grid, mode="bicubic", antialias=self.cfg.interpolate_antialias, **size_kw)
        patch_pos = rearrange(grid, "1 c h w -> 1 (h w) c")
        return torch.cat([pos[:, :1], patch_pos], dim=1).to(dtype)

    def forward(self, images: Tensor) -> Tensor:
        """images [N, 3, H, W] -> normalised patch tokens [N, h*w, C] (cls / register outputs dropped)."""
        N, _, H, W = images.shape
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(N, -1, -1), x], dim=1)
        x = x + self.interpolate_pos_encoding(H, W, x.dtype)
        x = torch.cat([x[:, :1], self.register_tokens.expand(N, -1, -1), x[:, 1:]], dim=1)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return x[:, 1 + self.num_register_tokens :]
