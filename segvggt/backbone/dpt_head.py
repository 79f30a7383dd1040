"""DPT dense prediction head over four aggregated layers (depth / point maps, or plain features).

Taps: `intermediate_layer_idx` layers, patch tokens only, LayerNorm -> 1x1 project -> + pos-embed ->
resize to 4x, 2x, 1x, 1/2x the patch grid -> 3x3 conv to `features` -> fusion from coarse to fine
(x8 of the patch grid) -> output_conv1 -> bilinear to (H, W) / down_ratio -> + pos-embed ->
output_conv2 + activation (or, with `feature_only`, the features themselves).

Semantic-head use: `DPTHead(DPTConfig(dim_in=2C, feature_only=True, down_ratio=2, features=D))`
returns [B, S, D, H/2, W/2] (output_conv1 maps D -> D; no output_conv2).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from segvggt.backbone.camera_head import activate
from segvggt.backbone.config import DPTConfig
from segvggt.backbone.dpt_fusion import FeatureFusionBlock, add_pos_embed
from segvggt.backbone.precision import fp32_region


class DPTHead(nn.Module):
    """forward(tokens_list [B, S, P, 2C] per layer, images [B, S, 3, H, W], patch_start_idx)
    -> (preds [B, S, H, W, output_dim-1], conf [B, S, H, W]) or, if feature_only,
    features [B, S, features, H/down_ratio, W/down_ratio]."""

    def __init__(self, cfg: DPTConfig):
        super().__init__()
        self.cfg = cfg
        oc, F_ = cfg.out_channels, cfg.features
        if len(oc) != 4 or len(cfg.intermediate_layer_idx) != 4:
            raise ValueError("DPTHead needs exactly 4 out_channels and 4 intermediate_layer_idx")
        self.norm = nn.LayerNorm(cfg.dim_in)
        self.projects = nn.ModuleList(nn.Conv2d(cfg.dim_in, c, 1) for c in oc)
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(oc[0], oc[0], kernel_size=4, stride=4),
                nn.ConvTranspose2d(oc[1], oc[1], kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(oc[3], oc[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = nn.Module()
        for i, c in enumerate(oc, start=1):
            setattr(self.scratch, f"layer{i}_rn", nn.Conv2d(c, F_, 3, padding=1, bias=False))
        self.scratch.refinenet1 = FeatureFusionBlock(F_)
        self.scratch.refinenet2 = FeatureFusionBlock(F_)
        self.scratch.refinenet3 = FeatureFusionBlock(F_)
        self.scratch.refinenet4 = FeatureFusionBlock(F_, has_residual=False)
        if cfg.feature_only:
            self.scratch.output_conv1 = nn.Conv2d(F_, F_, 3, padding=1)
        else:
            self.scratch.output_conv1 = nn.Conv2d(F_, F_ // 2, 3, padding=1)
            self.scratch.output_conv2 = nn.Sequential(
                nn.Conv2d(F_ // 2, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, cfg.output_dim, 1)
            )

    def forward(
        self,
        tokens_list: list[Tensor],
        images: Tensor,
        patch_start_idx: int,
        frames_chunk_size: int | None = 8,
        checkpoint_chunks: bool = False,
    ) -> tuple[Tensor, Tensor] | Tensor:
        """See class docstring. Frames are processed `frames_chunk_size` at a time (None = all);
        every operation is per frame, so chunking does not change the result. With
        `checkpoint_chunks` (and gradients on) each chunk is a gradient checkpoint: its
        full-resolution maps are recomputed in the backward pass instead of stored."""
        S = images.shape[1]
        step = S if frames_chunk_size is None else min(frames_chunk_size, S)
        run = self._forward_frames
        if checkpoint_chunks and torch.is_grad_enabled():

            def run(*args):
                return checkpoint(self._forward_frames, *args, use_reentrant=False)

        parts = [run(tokens_list, images, patch_start_idx, s, min(s + step, S)) for s in range(0, S, step)]
        if len(parts) == 1:
            return parts[0]
        if self.cfg.feature_only:
            return torch.cat(parts, dim=1)
        return torch.cat([p[0] for p in parts], dim=1), torch.cat([p[1] for p in parts], dim=1)

    def _forward_frames(self, tokens_list: list[Tensor], images: Tensor, patch_start_idx: int, s0: int, s1: int):
        B, _, _, H, W = images.shape
        S = s1 - s0
        h, w = H // self.cfg.patch_size, W // self.cfg.patch_size
        taps = []
        for k, layer in enumerate(self.cfg.intermediate_layer_idx):
            x = tokens_list[layer][:, s0:s1, patch_start_idx:]
            x = self.norm(x.reshape(B * S, h * w, x.shape[-1]))
            x = rearrange(x, "n (h w) c -> n c h w", h=h, w=w)
            x = self.projects[k](x)
            if self.cfg.pos_embed:
                x = add_pos_embed(x, W, H)
            taps.append(self.resize_layers[k](x))
        out = self._fuse(taps)
        size = (int(h * self.cfg.patch_size / self.cfg.down_ratio), int(w * self.cfg.patch_size / self.cfg.down_ratio))
        out = nn.functional.interpolate(out, size=size, mode="bilinear", align_corners=True)
        if self.cfg.pos_embed:
            out = add_pos_embed(out, W, H)
        if self.cfg.feature_only:
            return out.reshape(B, S, *out.shape[1:])
        # The last conv and the activations (exp of depth and confidence) stay fp32 under autocast.
        with fp32_region(out.device.type):
            out = self.scratch.output_conv2(out.float())
            fmap = rearrange(out, "(b s) c h w -> b s h w c", b=B, s=S)
            preds = activate(fmap[..., :-1], self.cfg.activation)
            conf = self._activate_conf(fmap[..., -1])
        return preds, conf

    def _fuse(self, taps: list[Tensor]) -> Tensor:
        sc = self.scratch
        l1, l2, l3, l4 = sc.layer1_rn(taps[0]), sc.layer2_rn(taps[1]), sc.layer3_rn(taps[2]), sc.layer4_rn(taps[3])
        out = sc.refinenet4(l4, size=l3.shape[2:])
        out = sc.refinenet3(out, l3, size=l2.shape[2:])
        out = sc.refinenet2(out, l2, size=l1.shape[2:])
        out = sc.refinenet1(out, l1)
        return sc.output_conv1(out)

    def _activate_conf(self, c: Tensor) -> Tensor:
        kind = self.cfg.conf_activation
        if kind == "expp1":
            return 1 + c.exp()
        if kind == "expp0":
            return c.exp()
        if kind == "sigmoid":
            return torch.sigmoid(c)
        raise ValueError(f"unknown confidence activation {kind!r}")
