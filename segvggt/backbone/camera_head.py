"""Camera head: iterative refinement of the 9-d pose encoding from the camera tokens.

Each iteration conditions the (fixed) normalised camera tokens on the current raw encoding with
adaLN (shift, scale, gate), runs a small transformer across the S views, and adds a delta to the
raw encoding. The condition is the raw (pre-activation) running sum, detached; iteration 1 uses a
learned empty pose. Outputs are activated per component (T linear, quaternion linear, FoV ReLU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segvggt.backbone.config import CameraHeadConfig
from segvggt.backbone.layers import Block, Mlp

POSE_ENCODING_DIM = {"absT_quaR_FoV": 9}


def activate(x: Tensor, kind: str) -> Tensor:
    """Elementwise activation by name: linear, relu, exp, inv_log (sign(x) * (exp|x| - 1))."""
    if kind == "linear":
        return x
    if kind == "relu":
        return F.relu(x)
    if kind == "exp":
        return torch.exp(x)
    if kind == "inv_log":
        return torch.sign(x) * torch.expm1(torch.abs(x))
    raise ValueError(f"unknown activation {kind!r}")


class CameraHead(nn.Module):
    """Last aggregated layer [B, S, P, 2C] -> list of `num_iterations` pose encodings [B, S, 9]."""

    def __init__(self, cfg: CameraHeadConfig):
        super().__init__()
        if cfg.pose_encoding_type not in POSE_ENCODING_DIM:
            raise ValueError(f"unsupported pose encoding {cfg.pose_encoding_type!r}")
        self.cfg = cfg
        dim, target = cfg.dim_in, POSE_ENCODING_DIM[cfg.pose_encoding_type]
        self.trunk = nn.Sequential(
            *[Block(dim, cfg.num_heads, mlp_ratio=cfg.mlp_ratio, init_values=cfg.init_values) for _ in range(cfg.trunk_depth)]
        )
        self.token_norm = nn.LayerNorm(dim)
        self.trunk_norm = nn.LayerNorm(dim)
        self.empty_pose_tokens = nn.Parameter(torch.zeros(1, 1, target))
        self.embed_pose = nn.Linear(target, dim)
        self.poseLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 3 * dim))
        self.adaln_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.pose_branch = Mlp(dim, dim // 2, target)

    def activate_pose(self, raw: Tensor) -> Tensor:
        """raw [..., 9] -> [..., 9] with T (0:3), quaternion (3:7), FoV (7:9) activated separately."""
        c = self.cfg
        return torch.cat(
            [activate(raw[..., :3], c.trans_act), activate(raw[..., 3:7], c.quat_act), activate(raw[..., 7:], c.fl_act)],
            dim=-1,
        )

    def forward(self, tokens_list: list[Tensor], num_iterations: int = 4) -> list[Tensor]:
        """tokens_list: aggregated layers [B, S, P, 2C] (only the last is read) -> num_iterations x [B, S, 9]."""
        camera_tokens = self.token_norm(tokens_list[-1][:, :, 0])  # [B, S, 2C]
        B, S, _ = camera_tokens.shape
        normed = self.adaln_norm(camera_tokens)
        raw = None
        outputs = []
        for _ in range(num_iterations):
            if raw is None:
                cond = self.embed_pose(self.empty_pose_tokens.expand(B, S, -1))
            else:
                raw = raw.detach()
                cond = self.embed_pose(raw)
            shift, scale, gate = self.poseLN_modulation(cond).chunk(3, dim=-1)
            h = gate * (normed * (1 + scale) + shift) + camera_tokens
            h = self.trunk(h)
            delta = self.pose_branch(self.trunk_norm(h))
            raw = delta if raw is None else raw + delta
            outputs.append(self.activate_pose(raw))
        return outputs
