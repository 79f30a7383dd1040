"""The VGGT aggregator: patch embedding, then alternating frame / global attention.

Per view the token sequence is [camera (1), registers (R), patches (h*w)], so P = 1 + R + h*w and
`patch_start_idx = 1 + R`. The camera and register tokens have two learned slots: slot 0 is used
for frame 0 of every scene, slot 1 for frames 1..S-1 (this is how the model knows the reference
view). Frame blocks attend within a view ([B*S, P, C]); global blocks attend over all tokens of a
scene ([B, S*P, C]). Both use 2D RoPE with the same per-view positions (no frame index).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint, noop_context_fn

from segvggt.backbone.checkpoint_policy import keep_global_attention
from segvggt.backbone.checkpoint_storage import low_precision_layer_inputs
from segvggt.backbone.config import AggregatorConfig, DinoConfig
from segvggt.backbone.layers import Block
from segvggt.backbone.patch_embed import DinoVisionTransformer, PatchEmbed, sincos_position_embedding_2d
from segvggt.backbone.rope import RotaryPositionEmbedding2D, patch_positions

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def expand_special_tokens(token: Tensor, B: int, S: int) -> Tensor:
    """Learned token [1, 2, X, C] -> [B*S, X, C]: slot 0 for frame 0, slot 1 for frames 1..S-1."""
    first = token[:, 0:1].expand(B, 1, *token.shape[2:])
    others = token[:, 1:2].expand(B, S - 1, *token.shape[2:])
    return torch.cat([first, others], dim=1).reshape(B * S, *token.shape[2:])


class Aggregator(nn.Module):
    """images [B, S, 3, H, W] in [0, 1] -> (list of depth tensors [B, S, P, 2C], patch_start_idx).

    Output layer i is `cat([frame_out_i, global_out_i], -1)`: channels [:C] are frame block i's
    output, [C:] global block i's output.

    Memory: the official code keeps all `depth` outputs (24 x [B, S, P, 2C] fp32 for VGGT-1B, ~0.2 GB
    per 518-px image) although its heads read five of them. `keep_layers` returns only the layers a
    reader needs (the others are None in the list) and `on_layer(i, global_out)` lets a reader take
    what it needs from every layer (SegVGGT: its query blocks' keys/values) while the layer is live.
    With `checkpoint_blocks`, each layer (frame + global block) is one checkpoint, so only its input
    [B, S, P, C] is stored for the backward pass (not one input per block); with
    `checkpoint_low_precision` too, under autocast, in the autocast dtype (checkpoint_storage.py);
    with `checkpoint_keep_global_attention` the global attention's outputs are kept as well, so the
    backward pass does not attend over all S P tokens again (checkpoint_policy.py).
    """

    def __init__(
        self,
        cfg: AggregatorConfig,
        embed_dim: int,
        patch_size: int = 14,
        dinov2: DinoConfig | None = None,
        checkpoint_blocks: bool = False,
        checkpoint_low_precision: bool = False,
        checkpoint_keep_global_attention: bool = False,
    ):
        super().__init__()
        if cfg.aa_block_size != 1 or tuple(cfg.aa_order) != ("frame", "global"):
            raise ValueError("only aa_order=('frame', 'global') with aa_block_size=1 (the VGGT-1B layout) is supported")
        self.cfg = cfg
        self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.depth = cfg.depth
        self.checkpoint_blocks = checkpoint_blocks
        self.checkpoint_low_precision = checkpoint_low_precision
        self.checkpoint_keep_global_attention = checkpoint_keep_global_attention
        if cfg.patch_embed == "conv":
            self.patch_embed = PatchEmbed(patch_size, embed_dim)
        elif cfg.patch_embed.startswith("dinov2"):
            dinov2 = dinov2 or DinoConfig()
            if dinov2.embed_dim != embed_dim:
                raise ValueError(f"DINOv2 width {dinov2.embed_dim} must equal the aggregator embed_dim {embed_dim}")
            if dinov2.patch_size != patch_size:
                raise ValueError(f"DINOv2 patch size {dinov2.patch_size} must equal {patch_size}")
            self.patch_embed = DinoVisionTransformer(dinov2)
        else:
            raise ValueError(f"unknown patch_embed {cfg.patch_embed!r}; use 'conv' or 'dinov2_vitl14_reg'")
        if cfg.conv_position_embedding not in ("none", "sincos"):
            raise ValueError(f"unknown conv_position_embedding {cfg.conv_position_embedding!r}; use 'none' or 'sincos'")
        if cfg.conv_position_embedding != "none" and cfg.patch_embed != "conv":
            raise ValueError("conv_position_embedding applies to patch_embed 'conv' only (DINOv2 has its own)")
        self.rope = RotaryPositionEmbedding2D(cfg.rope_freq)

        def make_block() -> Block:
            return Block(
                embed_dim,
                cfg.num_heads,
                mlp_ratio=cfg.mlp_ratio,
                qkv_bias=cfg.qkv_bias,
                proj_bias=cfg.proj_bias,
                ffn_bias=cfg.ffn_bias,
                init_values=cfg.init_values,
                qk_norm=cfg.qk_norm,
            )

        self.frame_blocks = nn.ModuleList(make_block() for _ in range(cfg.depth))
        self.global_blocks = nn.ModuleList(make_block() for _ in range(cfg.depth))
        self.camera_token = nn.Parameter(torch.randn(1, 2, 1, embed_dim) * 1e-6)
        self.register_token = nn.Parameter(torch.randn(1, 2, cfg.num_register_tokens, embed_dim) * 1e-6)
        self.patch_start_idx = 1 + cfg.num_register_tokens
        self.register_buffer("_resnet_mean", torch.empty(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("_resnet_std", torch.empty(1, 1, 3, 1, 1), persistent=False)
        self.reset_normalisation_buffers()

    def reset_normalisation_buffers(self, device: torch.device | str | None = None) -> None:
        """(Re)create the ImageNet mean / std buffers (not in the state dict, so a model built on the
        `meta` device and filled with `load_state_dict(assign=True)` needs them made here)."""
        device = device if device is not None else self._resnet_mean.device
        self._resnet_mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 1, 3, 1, 1)
        self._resnet_std = torch.tensor(IMAGENET_STD, device=device).view(1, 1, 3, 1, 1)

    def embed(self, images: Tensor) -> Tensor:
        """images [B, S, 3, H, W] in [0, 1] -> patch tokens [B*S, h*w, C] (ImageNet-normalised inside)."""
        x = (images - self._resnet_mean) / self._resnet_std
        tokens = self.patch_embed(rearrange(x, "b s c h w -> (b s) c h w"))
        if self.cfg.conv_position_embedding == "sincos":
            # RoPE only biases attention scores; an absolute position in the token itself lets a layer
            # read *where* a match sits (how far content moved between views), as DINOv2's learned grid does
            h, w = images.shape[-2] // self.patch_size, images.shape[-1] // self.patch_size
            tokens = tokens + sincos_position_embedding_2d(h, w, tokens.shape[-1], tokens.device).to(tokens.dtype)
        return tokens

    def _layer(
        self, i: int, x: Tensor, frame_rope: tuple[Tensor, Tensor], global_rope: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, Tensor]:
        """Layer i on tokens x [B, S, P, C] -> (frame block output, global block output), each [B, S, P, C]."""
        B, S, P, C = x.shape
        frame_out = self.frame_blocks[i](x.reshape(B * S, P, C), rope=frame_rope).reshape(B, S, P, C)
        global_out = self.global_blocks[i](frame_out.reshape(B, S * P, C), rope=global_rope).reshape(B, S, P, C)
        return frame_out, global_out

    def forward(
        self,
        images: Tensor,
        keep_layers: Collection[int] | None = None,
        on_layer: Callable[[int, Tensor], None] | None = None,
    ) -> tuple[list[Tensor | None], int]:
        """images [B, S, 3, H, W] in [0, 1] (H, W multiples of the patch size)
        -> (depth entries [B, S, P, 2C], patch_start_idx).

        keep_layers: layer indices whose output is returned; the other entries are None (None = all,
            the official behaviour). Without gradients under autocast they are kept in the autocast dtype.
        on_layer: called as on_layer(i, global_out [B, S, P, C]) right after layer i.
        """
        if images.dim() != 5 or images.shape[2] != 3:
            raise ValueError(f"images must be [B, S, 3, H, W], got {tuple(images.shape)}")
        B, S, _, H, W = images.shape
        if H % self.patch_size or W % self.patch_size:
            raise ValueError(f"image size {H}x{W} must be a multiple of the patch size {self.patch_size}")
        patch_tokens = self.embed(images)
        C = patch_tokens.shape[-1]
        tokens = torch.cat(
            [
                expand_special_tokens(self.camera_token, B, S).to(patch_tokens.dtype),
                expand_special_tokens(self.register_token, B, S).to(patch_tokens.dtype),
                patch_tokens,
            ],
            dim=1,
        )
        P = tokens.shape[1]
        positions = patch_positions(self.patch_start_idx, H // self.patch_size, W // self.patch_size, images.device)
        head_dim = C // self.cfg.num_heads
        frame_rope = self.rope.tables(positions, head_dim)
        global_rope = tuple(t.repeat(S, 1) for t in frame_rope)  # same per-view positions for every frame

        keep = range(self.depth) if keep_layers is None else set(keep_layers)
        use_checkpoint = self.checkpoint_blocks and torch.is_grad_enabled()
        # Inference under autocast keeps the layers in the autocast dtype: their readers normalise them in
        # fp32 or cast them anyway, and 4 fp32 taps of 100 views are ~3 GB. With gradients they stay fp32.
        device_type = images.device.type
        autocast = device_type in ("cuda", "cpu") and torch.is_autocast_enabled(device_type)  # "meta": no autocast
        keep_dtype = None
        if not torch.is_grad_enabled() and autocast:
            keep_dtype = torch.get_autocast_dtype(device_type)
        outputs: list[Tensor | None] = [None] * self.depth
        tokens = tokens.reshape(B, S, P, C)
        saving = contextlib.nullcontext()
        if use_checkpoint and self.checkpoint_low_precision and autocast:
            saving = low_precision_layer_inputs(tokens.numel() * 4, torch.get_autocast_dtype(device_type))
        context_fn = keep_global_attention(P) if self.checkpoint_keep_global_attention else noop_context_fn
        with saving:  # the loop reassigns `tokens`, so each layer input is freed when no longer needed
            for i in range(self.depth):
                if use_checkpoint:
                    frame_out, global_out = checkpoint(
                        self._layer, i, tokens, frame_rope, global_rope, use_reentrant=False, context_fn=context_fn
                    )
                else:
                    frame_out, global_out = self._layer(i, tokens, frame_rope, global_rope)
                if i in keep:
                    layer = torch.cat([frame_out, global_out], dim=-1)
                    if keep_dtype is None:
                        # The kept [.., 2C] layer already holds global_out: going on with its view lets
                        # autograd keep one copy (the next layer's checkpoint input) instead of two.
                        outputs[i], global_out = layer, layer[..., C:]
                    else:
                        outputs[i] = layer.to(keep_dtype)
                if on_layer is not None:
                    on_layer(i, global_out)
                tokens = global_out
        return outputs, self.patch_start_idx
