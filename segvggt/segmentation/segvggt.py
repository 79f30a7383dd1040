"""SegVGGT: VGGT + object queries, a semantic DPT head and click prompts.

    encoded = model.encode(images)              # backbone once: aggregator, VGGT heads, semantic DPT head
    out = model.decode(encoded, prompts)        # query blocks + heads only; as often as you like
    out = model(images, prompts)                # == model.decode(model.encode(images), prompts)
    cache = model.object_query_cache(encoded)   # object queries once per encoding (they never read prompts)
    out = model.decode(encoded, prompts, prompts_only=True, cache=cache)  # a click: R prompt queries only

Shapes: B scenes, S views, H, W input pixels (multiples of the patch size), h, w = H/2, W/2,
P tokens per view (P' = patch tokens), C aggregator width, Dq query width, D instance-feature
channels, Q object queries, R prompts, K classes, L query layers.

Output dict (see docs/DESIGN.md "Model input / output contract"):
    pose_enc [B, S, 9], pose_enc_list 4 x [B, S, 9], depth [B, S, H, W, 1], depth_conf [B, S, H, W],
    world_points [B, S, H, W, 3], world_points_conf [B, S, H, W]     (VGGT heads, unchanged)
    pred_logits [B, Q, K+1]            class logits, last = no object
    pred_masks [B, Q, S, h, w]         mask logits on every view
    instance_features [B, S, D, h, w]  semantic DPT head output
    frame_attention_mass [L, B, Q, S]  only when asked (default: in training mode); rows sum to 1
    prompt_masks [B, R, S, h, w], prompt_scores [B, R] (logit), prompt_valid [B, R] bool
        (always present; R = 0 without prompts; padding prompts have zero masks and scores)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from segvggt.backbone import DPTHead, build_vggt, load_vggt_checkpoint
from segvggt.segmentation.config import ModelConfig, resolve_query_layers
from segvggt.segmentation.encoded import Encoded
from segvggt.segmentation.heads import QueryHeads
from segvggt.segmentation.prompts import ClickBatch, PromptEncoder, Prompts, parse_prompts
from segvggt.segmentation.query_block import QueryBlock, prompt_isolation_mask
from segvggt.segmentation.query_cache import ObjectQueryCache
from segvggt.segmentation.trainable import param_groups, set_trainable

logger = logging.getLogger(__name__)

# Everything SegVGGT adds to VGGT; the only keys an official VGGT checkpoint may lack.
NEW_MODULE_PREFIXES = ("query_embed.", "query_blocks.", "prompt_encoder.", "query_heads.", "semantic_head.")


class SegVGGT(nn.Module):
    """VGGT backbone (`self.vggt`) plus object queries, query blocks, semantic DPT head and prompt queries."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        chunk = {} if config.frames_chunk_size is None else {"frames_chunk_size": config.frames_chunk_size}
        self.vggt = build_vggt(
            config.backbone, checkpoint_blocks=config.checkpoint_blocks, checkpoint_heads=config.checkpoint_heads,
            checkpoint_low_precision=config.checkpoint_low_precision, head_autocast=config.head_autocast,
            checkpoint_keep_global_attention=config.checkpoint_keep_global_attention, **chunk,
        )  # fmt: skip
        vggt_cfg = self.vggt.cfg
        token_dim = vggt_cfg.embed_dim
        self.patch_size = vggt_cfg.patch_size
        self.query_layers = resolve_query_layers(config.query_layers, vggt_cfg.aggregator.depth)
        dim = config.query_dim or min(256, token_dim)
        self.query_dim = dim

        self.query_embed = nn.Embedding(config.num_queries, dim)
        self.query_blocks = nn.ModuleList(
            QueryBlock(dim, token_dim, config.query_heads, config.query_mlp_ratio) for _ in self.query_layers
        )
        self.prompt_encoder = PromptEncoder(dim, self.patch_size)
        self.query_heads = QueryHeads(dim, config.mask_dim, config.num_classes)
        # Same taps and widths as VGGT's depth head, but features only, at half resolution, D channels.
        semantic_cfg = dataclasses.replace(
            vggt_cfg.depth_head, feature_only=True, down_ratio=2, features=config.mask_dim, pos_embed=True
        )
        self.semantic_head = DPTHead(semantic_cfg)
        if config.lora_rank > 0:
            from segvggt.segmentation.lora import attach_lora  # peft is imported only here

            attach_lora(self, config.lora_rank, config.lora_alpha, config.lora_dropout)
        self.apply_trainability()
        logger.debug("SegVGGT: query blocks after layers %s, Dq=%d, D=%d", self.query_layers, dim, config.mask_dim)

    @classmethod
    def from_config(cls, config: ModelConfig) -> "SegVGGT":
        return cls(config)

    @property
    def num_query_layers(self) -> int:
        return len(self.query_layers)

    # ---- training setup -------------------------------------------------------------------------
    def apply_trainability(self) -> None:
        """(Re)apply the requires_grad split of ModelConfig (freeze_patch_embed, freeze_backbone, LoRA)."""
        set_trainable(self, self.config.freeze_patch_embed, self.config.freeze_backbone)

    def param_groups(self, lr_new: float, lr_pretrained: float, weight_decay: float) -> list[dict[str, Any]]:
        """Optimizer groups: new modules + LoRA at lr_new, other trainable VGGT parameters at lr_pretrained."""
        return param_groups(self, lr_new, lr_pretrained, weight_decay)

    def load_vggt_checkpoint(self, path_or_state_dict: Any) -> Any:
        """Load official VGGT weights into `self.vggt` (before or after LoRA is attached).

        Only SegVGGT's new modules (NEW_MODULE_PREFIXES) and LoRA adapters may be missing.
        """
        return load_vggt_checkpoint(self, path_or_state_dict, allow_missing_prefixes=NEW_MODULE_PREFIXES)

    # ---- encode / decode ------------------------------------------------------------------------
    def encode(self, images: Tensor, heads: Collection[str] | None = None) -> Encoded:
        """Run everything that does not depend on the queries: aggregator, VGGT heads, semantic head.

        images: [B, S, 3, H, W] in [0, 1], H and W multiples of the patch size.
        heads: VGGT heads to run (subset of "camera", "depth", "point"; None = all enabled). Training
            leaves out the point head, which no loss reads.
        Each query layer's keys/values are projected while the aggregator layer is live; besides them
        only the layers a head reads are kept.
        """
        if images.dim() != 5 or images.shape[2] != 3:
            raise ValueError(f"images must be [B, S, 3, H, W] in [0, 1], got shape {tuple(images.shape)}")
        block_of = {layer: j for j, layer in enumerate(self.query_layers)}
        token_kv: list[Tensor | None] = [None] * len(self.query_layers)
        patch_start_idx = self.vggt.aggregator.patch_start_idx

        def on_layer(i: int, global_out: Tensor) -> None:
            if i in block_of:
                token_kv[block_of[i]] = self._token_kv(self.query_blocks[block_of[i]], global_out[:, :, patch_start_idx:])

        keep = self.vggt.head_layers(heads) | set(self.semantic_head.cfg.intermediate_layer_idx)
        tokens_list, patch_start_idx = self.vggt.aggregator(images, keep_layers=keep, on_layer=on_layer)
        geometry = self.vggt.run_heads(tokens_list, images, patch_start_idx, heads)
        features = self.semantic_head(
            tokens_list, images, patch_start_idx, self.vggt.frames_chunk_size,
            checkpoint_chunks=self.vggt.cfg.checkpoint_heads,
        )  # fmt: skip
        return Encoded(patch_start_idx, features, (images.shape[-2], images.shape[-1]), geometry, token_kv)

    def _token_kv(self, block: QueryBlock, patch_tokens: Tensor) -> Tensor:
        """patch_tokens [B, S, P', C] -> [B, S*P', 2 Dq]; checkpointed with gradients on, so only the
        (narrow) result is stored, not the normalised C-wide tokens."""
        if self.config.checkpoint_blocks and torch.is_grad_enabled():
            return checkpoint(block.token_kv, patch_tokens, use_reentrant=False)
        return block.token_kv(patch_tokens)

    def decode(
        self,
        encoded: Encoded,
        prompts: Prompts | None = None,
        return_frame_mass: bool = False,
        prompts_only: bool = False,
        mask_logits: bool = True,
        cache: ObjectQueryCache | None = None,
        aux_outputs: bool = False,
    ) -> dict[str, Any]:
        """Query blocks and heads on an encoding; see the module docstring for the output dict.

        prompts: one list per scene of prompts, each a list of clicks (frame, x, y, positive) in input
            pixels; None = no prompts (R = 0). Each prompt is decoded as one extra query that sees the
            object queries and itself only, so its answer does not depend on the other prompts and the
            object-query outputs do not depend on the prompts.
        prompts_only: answer the prompts only (interactive clicks): the masks and classes of the object
            queries are not computed; `pred_logits` / `pred_masks` are then absent from the output.
        mask_logits: False = return the mask embeddings `pred_mask_embed` [B, Q, D] and
            `prompt_mask_embed` [B, R, D] instead of `pred_masks` / `prompt_masks` (mask logit at a
            pixel = embedding . instance_features there). Training evaluates them at sampled points
            only, never materialising [B, Q, S, h, w].
        cache: `object_query_cache(encoded)`: the object queries are then read from it and only the R
            prompt queries run through the blocks (a click costs R queries, not Q + R); the answer
            equals the decode without it. None = everything runs (training uses this path).
        aux_outputs: also `aux_outputs`, one dict per query block but the last with the object queries'
            `pred_logits` and masks after that block (Mask2Former's deep supervision; needs cache=None).
        """
        B, S = encoded.batch_size, encoded.num_frames
        H, W = encoded.image_size
        device = encoded.instance_features.device
        clicks = parse_prompts(prompts, B, S, (H, W), device) if prompts is not None else None
        intermediate: list[Tensor] = []
        if cache is None:
            queries, masses = self._decode_queries(encoded, clicks, return_frame_mass, intermediate if aux_outputs else None)
            if prompts_only:
                queries = queries[:, self.config.num_queries :]
        else:
            self._check_cache(cache, encoded, return_frame_mass)
            masses = list(cache.frame_mass) if return_frame_mass else []
            prompt_queries = self.prompt_queries(encoded, clicks, cache) if clicks is not None else cache.queries[:, :0]
            queries = prompt_queries if prompts_only else torch.cat([cache.queries, prompt_queries], dim=1)
        valid = clicks.prompt_valid if clicks is not None else torch.zeros(B, 0, dtype=torch.bool, device=device)
        out: dict[str, Any] = dict(encoded.geometry)
        out.update(self._query_outputs(queries, encoded.instance_features, valid, not prompts_only, mask_logits))
        out["instance_features"] = encoded.instance_features
        if aux_outputs:
            Q, no_prompts = self.config.num_queries, valid[:, :0]
            out["aux_outputs"] = [
                {k: v for k, v in self._query_outputs(q[:, :Q], encoded.instance_features, no_prompts, True,
                                                      mask_logits).items() if k.startswith("pred_")}
                for q in intermediate
            ]  # fmt: skip
        if return_frame_mass:
            out["frame_attention_mass"] = torch.stack(masses)
        return out

    def object_query_cache(self, encoded: Encoded, return_frame_mass: bool = False) -> ObjectQueryCache:
        """Run the Q object queries alone through the blocks and keep what prompts read from them
        (see query_cache.py). Once per encoding; then `decode(encoded, prompts, cache=...)`."""
        B, S = encoded.batch_size, encoded.num_frames
        queries = self.query_embed.weight.unsqueeze(0).expand(B, -1, -1)
        mass_queries = self.config.num_queries if return_frame_mass else 0
        self_kv, masses = [], []
        for block, kv in zip(self.query_blocks, encoded.token_kv):
            queries, mass, pair = block.forward_objects(queries, kv, S, None, mass_queries, self.config.frame_mass_chunk)
            self_kv.append(pair)
            if mass is not None:
                masses.append(mass)
        return ObjectQueryCache(self_kv, queries, torch.stack(masses) if masses else None)

    def prompt_queries(self, encoded: Encoded, clicks: ClickBatch, cache: ObjectQueryCache) -> Tensor:
        """The R prompt queries after the last block [B, R, Dq], the object queries read from `cache`.

        Static shapes, no host synchronisation: this (with `decode_clicks`) is what the Predictor
        captures in a CUDA graph.
        """
        S = encoded.num_frames
        H, W = encoded.image_size
        grid_hw = (H // self.patch_size, W // self.patch_size)
        Q, R = cache.num_queries, clicks.num_prompts
        encoder = self.prompt_encoder
        sampling = encoder.sampling(clicks, S, grid_hw)
        # The object queries' residual stream is fp32 under autocast; the prompts' is kept in the same dtype.
        prompts = encoder.initial(encoded.token_kv[0], S, grid_hw, clicks, sampling).to(cache.queries.dtype)
        refresh = encoder.refresh_layers(encoded.token_kv, sampling, clicks)  # [L, B, R, Dq]
        allowed = prompt_isolation_mask(Q, R, prompts.device)[Q:]  # [R, Q+R]
        # As an additive mask in the attention's dtype, made once: SDPA would convert a bool mask per block.
        device_type = prompts.device.type
        dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else prompts.dtype
        attn_mask = torch.zeros(allowed.shape, dtype=dtype, device=prompts.device).masked_fill_(~allowed, float("-inf"))
        for i, (block, kv) in enumerate(zip(self.query_blocks, encoded.token_kv)):
            prompts = block.forward_prompts(prompts + refresh[i], kv, cache.self_kv[i], attn_mask)
        return prompts

    def decode_clicks(
        self, encoded: Encoded, clicks: ClickBatch, cache: ObjectQueryCache, mask_logits: bool = True
    ) -> dict[str, Tensor]:
        """`decode(encoded, prompts, prompts_only=True, cache=cache)` on already parsed clicks:
        prompt_masks [B, R, S, h, w] (or prompt_mask_embed [B, R, D]), prompt_scores [B, R], prompt_valid [B, R]."""
        queries = self.prompt_queries(encoded, clicks, cache)
        return self._query_outputs(queries, encoded.instance_features, clicks.prompt_valid, False, mask_logits)

    def _decode_queries(
        self, encoded: Encoded, clicks: ClickBatch | None, return_frame_mass: bool,
        intermediate: list[Tensor] | None = None,
    ) -> tuple[Tensor, list[Tensor]]:
        """Object and prompt queries together through every block -> ([B, Q+R, Dq], L x [B, Q, S] masses);
        `intermediate`, if given, receives the queries after every block but the last."""
        B, S = encoded.batch_size, encoded.num_frames
        H, W = encoded.image_size
        Q = self.config.num_queries
        grid_hw = (H // self.patch_size, W // self.patch_size)
        R = clicks.num_prompts if clicks is not None else 0
        queries = self.query_embed.weight.unsqueeze(0).expand(B, -1, -1)
        attn_mask = None
        if R > 0:
            queries = torch.cat([queries, self.prompt_encoder.initial(encoded.token_kv[0], S, grid_hw, clicks)], dim=1)
            attn_mask = prompt_isolation_mask(Q, R, queries.device)
        masses = []
        for i, (block, kv) in enumerate(zip(self.query_blocks, encoded.token_kv)):
            queries, mass = self._run_block(block, queries, kv, S, grid_hw, clicks, attn_mask, return_frame_mass)
            if mass is not None:
                masses.append(mass)
            if intermediate is not None and i < len(self.query_blocks) - 1:
                intermediate.append(queries)
        return queries, masses

    def _query_outputs(
        self, queries: Tensor, features: Tensor, valid: Tensor, with_objects: bool, mask_logits: bool
    ) -> dict[str, Tensor]:
        """queries [B, Q+R, Dq] (with_objects) or [B, R, Dq], features [B, S, D, h, w], valid [B, R]
        -> the heads' outputs (see the module docstring)."""
        heads = self.query_heads
        B, R = valid.shape
        Q = queries.shape[1] - R
        out: dict[str, Tensor] = {}
        if with_objects:
            out["pred_logits"] = heads.class_logits(queries[:, :Q])
        if mask_logits:
            masks = heads.masks(queries, features)  # [B, (Q+)R, S, h, w]
            if with_objects:
                out["pred_masks"] = masks[:, :Q]
            out["prompt_masks"] = masks[:, Q:] * valid[:, :, None, None, None].to(masks.dtype)
        else:
            embed = heads.mask_embedding(queries)  # [B, (Q+)R, D]
            if with_objects:
                out["pred_mask_embed"] = embed[:, :Q]
            out["prompt_mask_embed"] = embed[:, Q:] * valid[:, :, None].to(embed.dtype)
        scores = heads.prompt_scores(queries[:, Q:]) if R > 0 else queries.new_zeros(B, 0)
        out["prompt_scores"] = scores * valid.to(scores.dtype)
        out["prompt_valid"] = valid
        return out

    def _check_cache(self, cache: ObjectQueryCache, encoded: Encoded, return_frame_mass: bool) -> None:
        if cache.batch_size != encoded.batch_size or len(cache.self_kv) != len(self.query_blocks):
            raise ValueError(
                f"cache holds {cache.batch_size} scene(s) x {len(cache.self_kv)} layers but the encoding has "
                f"{encoded.batch_size} x {len(self.query_blocks)}: build it with object_query_cache(encoded)"
            )
        if return_frame_mass and cache.frame_mass is None:
            raise ValueError("return_frame_mass needs a cache built with object_query_cache(encoded, return_frame_mass=True)")

    def forward(
        self,
        images: Tensor,
        prompts: Prompts | None = None,
        return_frame_mass: bool | None = None,
        heads: Collection[str] | None = None,
        mask_logits: bool = True,
        aux_outputs: bool = False,
    ) -> dict[str, Any]:
        """images [B, S, 3, H, W] in [0, 1] -> output dict; frame mass defaults to `self.training`.

        heads, mask_logits and aux_outputs: see `encode` and `decode`.
        """
        if return_frame_mass is None:
            return_frame_mass = self.training
        return self.decode(
            self.encode(images, heads), prompts, return_frame_mass, mask_logits=mask_logits, aux_outputs=aux_outputs
        )

    # ---- internals ------------------------------------------------------------------------------
    def _run_block(
        self,
        block: QueryBlock,
        queries: Tensor,
        kv: Tensor,
        num_frames: int,
        grid_hw: tuple[int, int],
        clicks: ClickBatch | None,
        attn_mask: Tensor | None,
        return_frame_mass: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """queries [B, Q+R, Dq], kv [B, S*P', 2 Dq] -> (queries [B, Q+R, Dq], mass [B, Q, S] or None)."""
        if clicks is not None and clicks.num_prompts > 0:
            Q = self.config.num_queries
            refreshed = queries[:, Q:] + self.prompt_encoder.refresh(kv, num_frames, grid_hw, clicks)
            queries = torch.cat([queries[:, :Q], refreshed], dim=1)
        mass_queries = self.config.num_queries if return_frame_mass else 0
        args = (queries, kv, num_frames, attn_mask, mass_queries, self.config.frame_mass_chunk)
        if self.config.checkpoint_blocks and torch.is_grad_enabled():
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)


def build_segvggt(backbone_cfg: dict | None = None, **options: Any) -> SegVGGT:
    """Build SegVGGT with random weights (load VGGT weights with `model.load_vggt_checkpoint(path)`).

    backbone_cfg: nested VGGT config dict as accepted by `segvggt.backbone.build_vggt` (None = VGGT-1B).
    options: ModelConfig fields for the segmentation part, e.g. num_queries=100, num_classes=18,
        query_layers="all", mask_dim=128, lora_rank=32 (0 = no LoRA).
    """
    return SegVGGT(ModelConfig(backbone=backbone_cfg, **options))
