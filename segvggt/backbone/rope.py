"""2D rotary position embedding of the VGGT aggregator (row half, then column half of each head).

Each attention head's D channels are split in two halves of d = D/2: the first half rotates with the
token's row (y) position, the second half with its column (x) position. Inside a half the rotation is
in "rotate-half" form (channel j pairs with j + d/2, not interleaved pairs) with frequencies
`base^(-2j/d)`, j = 0..d/2-1. Camera / register tokens sit at position (0, 0); patch (row, col) sits at
(row + 1, col + 1).
"""

from __future__ import annotations

import torch
from torch import Tensor


def patch_positions(num_special: int, grid_h: int, grid_w: int, device=None) -> Tensor:
    """Integer (y, x) positions of one view's tokens: [P, 2] with P = num_special + grid_h * grid_w.

    Special tokens get (0, 0); patch tokens are row-major and shifted by +1 so that none of them
    shares the special tokens' position.
    """
    rows = torch.arange(grid_h, device=device).repeat_interleave(grid_w)
    cols = torch.arange(grid_w, device=device).repeat(grid_h)
    patches = torch.stack([rows, cols], dim=-1) + 1
    special = torch.zeros(num_special, 2, dtype=patches.dtype, device=device)
    return torch.cat([special, patches], dim=0)


class RotaryPositionEmbedding2D:
    """Builds the cos / sin tables once per forward; blocks apply them with `apply_rope`.

    Holds no parameters and no state besides the base frequency, so it is a plain object (it adds
    no keys to the state dict, like the official `rope` module).
    """

    def __init__(self, base_frequency: float = 100.0):
        if base_frequency <= 0:
            raise ValueError(f"RoPE base frequency must be > 0, got {base_frequency}")
        self.base_frequency = float(base_frequency)

    def tables(self, positions: Tensor, head_dim: int) -> tuple[Tensor, Tensor]:
        """positions [N, 2] integer (y, x) -> (cos, sin), each [N, head_dim] float32.

        Channel layout of the tables: [y-half (d), x-half (d)], each half `[theta, theta]`.
        """
        if head_dim % 4 != 0:
            raise ValueError(f"2D RoPE needs a head dim divisible by 4, got {head_dim}")
        half = head_dim // 2
        exponents = torch.arange(0, half, 2, device=positions.device).float() / half
        inv_freq = 1.0 / (self.base_frequency**exponents)
        # Same op order as the official table (float32 angles of integer positions).
        angles = positions.float()[..., None] * inv_freq  # [N, 2, d/2]
        angles = torch.cat([angles, angles], dim=-1)  # [N, 2, d]
        angles = angles.reshape(positions.shape[0], head_dim)
        return angles.cos(), angles.sin()


def rotate_halves(x: Tensor) -> Tensor:
    """Rotate-half inside each of the two position halves: [a1, a2 | b1, b2] -> [-a2, a1 | -b2, b1]."""
    a, b = x.chunk(2, dim=-1)
    a1, a2 = a.chunk(2, dim=-1)
    b1, b2 = b.chunk(2, dim=-1)
    return torch.cat([-a2, a1, -b2, b1], dim=-1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x [B, heads, N, D]; cos, sin [N, D] (float32, cast to x's dtype) -> rotated x [B, heads, N, D]."""
    cos = cos.to(x.dtype)
    sin = sin.to(x.dtype)
    return (x * cos) + (rotate_halves(x) * sin)
