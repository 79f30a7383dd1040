"""DPT building blocks: residual conv unit, feature fusion block, and the DPT positional embedding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ResidualConvUnit(nn.Module):
    """[N, F, h, w] -> [N, F, h, w]: `conv2(relu(conv1(relu(x)))) + relu(x)`.

    The skip adds relu(x), not x: upstream applies an in-place ReLU to its input before the
    convs, so the value it later adds back is already rectified. Checkpoints were trained that way.
    """

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(x)
        return self.conv2(F.relu(self.conv1(x))) + x


class FeatureFusionBlock(nn.Module):
    """Fuse a coarser path x0 [N, F, h, w] with a skip x1 [N, F, h, w], then upsample (bilinear,
    align_corners=True) to `size` (or x2) and apply a 1x1 conv. refinenet4 has no skip input."""

    def __init__(self, features: int, has_residual: bool = True):
        super().__init__()
        self.has_residual = has_residual
        self.out_conv = nn.Conv2d(features, features, 1, bias=True)  # registered first: checkpoint key order
        if has_residual:
            self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x0: Tensor, x1: Tensor | None = None, size: tuple[int, int] | None = None) -> Tensor:
        out = x0
        if self.has_residual:
            out = out + self.resConfUnit1(x1)
        out = self.resConfUnit2(out)
        if size is None:
            out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=True)
        return self.out_conv(out)


def uv_grid(width: int, height: int, aspect_ratio: float, dtype: torch.dtype, device=None) -> Tensor:
    """[height, width, 2] normalised (x, y) coordinates; the image diagonal spans ~[-1, 1]."""
    diag = (aspect_ratio**2 + 1.0) ** 0.5
    span_x, span_y = aspect_ratio / diag, 1.0 / diag
    x = torch.linspace(-span_x * (width - 1) / width, span_x * (width - 1) / width, width, dtype=dtype, device=device)
    y = torch.linspace(-span_y * (height - 1) / height, span_y * (height - 1) / height, height, dtype=dtype, device=device)
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([xx, yy], dim=-1)


def sincos_embed(pos: Tensor, dim: int, omega_0: float = 100.0) -> Tensor:
    """pos [M] -> [M, dim] = [sin(pos * w_j), cos(pos * w_j)], w_j = omega_0^(-j / (dim/2)); float64 inside."""
    omega = torch.arange(dim // 2, dtype=torch.float64, device=pos.device) / (dim / 2.0)
    omega = 1.0 / omega_0**omega
    angles = pos.reshape(-1).double()[:, None] * omega[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).float()


def dpt_pos_embed(channels: int, height: int, width: int, aspect_ratio: float, dtype: torch.dtype, device=None) -> Tensor:
    """[channels, height, width] embedding: first channels/2 encode x, last channels/2 encode y."""
    grid = uv_grid(width, height, aspect_ratio, dtype, device).reshape(-1, 2)
    emb = torch.cat([sincos_embed(grid[:, 0], channels // 2), sincos_embed(grid[:, 1], channels // 2)], dim=-1)
    return emb.reshape(height, width, channels).permute(2, 0, 1)


def add_pos_embed(x: Tensor, W: int, H: int, ratio: float = 0.1) -> Tensor:
    """x [N, C, h, w] + 0.1 * DPT embedding of an (h, w) map of an image with aspect W / H."""
    emb = dpt_pos_embed(x.shape[1], x.shape[-2], x.shape[-1], W / H, x.dtype, x.device) * ratio
    return x + emb.to(x.dtype)[None]
