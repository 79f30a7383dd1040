"""An estimate of the peak memory of one inference (`set_images` + `segment_all`), checked before the
backbone runs, so that a too-large input gets a clear message with a usable --max-frames, not a crash.

What lives at once (S views of H x W, P = P' + 5 tokens per view, P' = H W / 14^2 patch tokens, C width,
a = activation bytes: 2 under bf16 / fp16 autocast, 4 in fp32; the residual stream is fp32 either way):
- always: the parameters (as stored: bf16 matrices in the Predictor's bf16 mode) and the images (fp32);
- the aggregator, at its last layer: the layers a head reads, kept until the heads ran (n_taps x S x P x
  2C x a: under autocast the aggregator keeps them in bf16; 4 layers for VGGT-1B, where the official
  code keeps all 24 in fp32); per query layer the
  cross-attention keys/values (L_q x S x P' x 2 Dq x a, what the query blocks and prompts read later);
  the layer's input, frame and global outputs (3 x S x P x C fp32) and one block's working set over all
  S P tokens (norm outputs and qk-norm / RoPE copies in fp32, qkv and the MLP hidden in a bytes);
- the heads: the taps and keys/values still, one chunk of `frames_chunk_size` frames through a DPT head
  (fusion maps at 8x the patch grid, the upsampled map at full resolution, its fp32 copy for the final
  conv, the float64 positional tables), the dense outputs (twice while the chunks are concatenated) and
  the instance features (S x D x H/2 x W/2 x a);
- post-processing (taps freed): keys/values, instance features and dense outputs; the Predictor's
  unprojected points, masks and ids; the mask logits of one chunk of frames (never Q x S x h x w, see
  mask_logits.py); the point cloud gathered for the host (~80 bytes per valid pixel at once).
The peak is the largest of the three phases, times a margin: SAFETY for allocator fragmentation, and
SAFETY_CUDA on CUDA devices, where the model of the phases is low (measured on an H200 with VGGT-1B at
392 x 518: peak / phases = 1.02, 1.09, 1.24, 1.31, 1.33 at 10, 50, 100, 200, 500 frames, about 150
bytes per pixel more than the model holds, and levelling at the per-frame slope ratio 1.34). The phases
are a model of the code in backbone/ and inference/; `benchmarks/bench_frames_scaling.py` compares the
estimate with measured peaks (on CPU; `benchmarks/bench_inference_gpu.py` prints both on a GPU).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
from torch import nn

from segvggt.inference.errors import InferenceError
from segvggt.inference.postprocess import CHUNK_ELEMENTS

logger = logging.getLogger(__name__)

SAFETY = 1.2
SAFETY_CUDA = 1.4  # above every measured peak / phases ratio on the H200 (at most 1.34, module docstring)
_GIB = float(1 << 30)
POINT_CLOUD_BYTES_PER_PIXEL = 80  # gathers, sort order and the host-bound copies of postprocess.point_cloud_to_host
MASK_CHUNK_BYTES_PER_ELEMENT = 3 * 4  # one chunk of mask logits (postprocess.CHUNK_ELEMENTS), sigmoids and flags


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of each part (see the module docstring); `peak` includes SAFETY (`peak_with` another margin)."""

    parameters: int
    images: int
    taps: int
    token_kv: int
    layer: int
    heads: int
    dense_outputs: int
    instance_features: int
    post_processing: int

    @property
    def aggregator_phase(self) -> int:
        return self.parameters + self.images + self.taps + self.token_kv + self.layer

    @property
    def heads_phase(self) -> int:
        return self.parameters + self.images + self.taps + self.token_kv + self.heads + 2 * self.dense_outputs \
            + self.instance_features  # fmt: skip

    @property
    def post_phase(self) -> int:
        return self.parameters + self.images + self.token_kv + self.dense_outputs + self.instance_features \
            + self.post_processing  # fmt: skip

    @property
    def peak(self) -> int:
        return self.peak_with(SAFETY)

    def peak_with(self, margin: float) -> int:
        return int(margin * max(self.aggregator_phase, self.heads_phase, self.post_phase))


def estimate_memory(
    model: nn.Module, num_frames: int, height: int, width: int, activation_bytes: int = 4
) -> MemoryEstimate:
    """The parts of the peak memory of `set_images` + `segment_all` for a VGGT or a SegVGGT."""
    from segvggt.backbone import VGGT

    vggt = model if isinstance(model, VGGT) else model.vggt
    cfg = vggt.cfg
    S, H, W, a = num_frames, height, width, activation_bytes
    grid = (H // cfg.patch_size) * (W // cfg.patch_size)  # P'
    tokens = S * (grid + 1 + cfg.aggregator.num_register_tokens)  # S P
    pixels = S * H * W
    C = cfg.embed_dim
    segvggt = not isinstance(model, VGGT)
    taps = set(vggt.head_layers())
    if segvggt:
        taps |= set(model.semantic_head.cfg.intermediate_layer_idx)
    token_kv = len(model.query_layers) * S * grid * 2 * model.query_dim * a if segvggt else 0
    # one block over all S P tokens, per token: attention phase (norm fp32, qkv, fp32 qk-norm + RoPE copies)
    # or MLP phase (norm fp32, hidden and its GELU); plus input, frame and global outputs of the layer.
    block = max(4 + 3 * a + 16, 4 + 8 * a) * C
    layer = tokens * (3 * 4 * C + block)
    head_bytes = a if cfg.head_autocast else 4
    heads = _dpt_chunk_bytes(cfg, min(S, vggt.frames_chunk_size or S), H, W, head_bytes)
    dense = 0
    if cfg.enable_depth:
        dense += pixels * 2 * 4
    if cfg.enable_point:
        dense += pixels * 4 * 4
    features = 0
    post = pixels * (12 + 4 + 4 + 4 + 2 + 3 * 4)  # points, depth / confidence copies, ids (and their remaps), masks
    post += pixels * POINT_CLOUD_BYTES_PER_PIXEL
    if segvggt:
        features = S * model.config.mask_dim * (H // 2) * (W // 2) * a
        mask_elements = model.config.num_queries * S * (H // 2) * (W // 2)
        post += MASK_CHUNK_BYTES_PER_ELEMENT * min(mask_elements, CHUNK_ELEMENTS)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return MemoryEstimate(params, pixels * 3 * 4, len(taps) * tokens * 2 * C * a, token_kv, layer, heads, dense,
                          features, post)  # fmt: skip


def _dpt_chunk_bytes(cfg, chunk: int, H: int, W: int, head_bytes: int) -> int:
    """Working set of one chunk of frames through the largest DPT head (VGGT's depth / point heads), at its
    peak, the full-resolution stage: per pixel the upsampled F/2-channel map (and its fp32 copy for the
    final conv under autocast), the 32-channel conv and its ReLU, the F/2-channel map at 8x the patch grid
    it came from; per call the float64 sin / cos tables of the positional embedding (~10 bytes per pixel
    and channel). Measured on CPU: 1.06 kB per pixel per frame and 1.2 kB per pixel per call at F = 256, fp32."""
    F = max(cfg.depth_head.features, cfg.point_head.features)
    per_pixel = (F // 2) * head_bytes + (0 if head_bytes == 4 else (F // 2) * 4) + 32 * 4 * 2
    per_pixel += (F // 2) * head_bytes * 64 / cfg.patch_size**2
    return int(chunk * H * W * per_pixel + H * W * (F // 2) * 10)


def estimate_peak_bytes(
    model: nn.Module, num_frames: int, height: int, width: int, activation_bytes: int = 4, margin: float = SAFETY
) -> int:
    """Estimated peak bytes to encode and post-process `num_frames` images of height x width with `model`
    (a VGGT or a SegVGGT), with `margin` (margin_for(device) gives the device's)."""
    return estimate_memory(model, num_frames, height, width, activation_bytes).peak_with(margin)


def margin_for(device: torch.device) -> float:
    """The estimate's margin on `device`: SAFETY_CUDA on CUDA, SAFETY elsewhere (module docstring)."""
    return SAFETY_CUDA if torch.device(device).type == "cuda" else SAFETY


def available_bytes(device: torch.device) -> int:
    """Free memory on `device`: free GPU memory for CUDA, available RAM otherwise."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown platform: do not block


def max_frames_that_fit(
    model: nn.Module, height: int, width: int, budget: int, activation_bytes: int = 4, margin: float = SAFETY
) -> int:
    """Largest S whose estimate fits `budget` (0 if not even one frame fits)."""
    lo, hi = 0, 1
    while estimate_peak_bytes(model, hi, height, width, activation_bytes, margin) <= budget and hi < 1 << 16:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if estimate_peak_bytes(model, mid, height, width, activation_bytes, margin) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def check_memory(
    model: nn.Module, num_frames: int, height: int, width: int, device: torch.device, activation_bytes: int = 4,
    available: int | None = None,
) -> int:
    """Raise InferenceError suggesting --max-frames when the estimate exceeds the free memory; returns the estimate."""
    margin = margin_for(device)
    need = estimate_peak_bytes(model, num_frames, height, width, activation_bytes, margin)
    have = available_bytes(device) if available is None else available
    logger.info("memory estimate for %d frames at %dx%d: %.2f GiB (%.2f GiB free on %s)", num_frames, width, height,
                need / _GIB, have / _GIB, device)
    if need > have:
        fit = max_frames_that_fit(model, height, width, have, activation_bytes, margin)
        hint = f"try --max-frames {fit}" if fit >= 2 else "use a machine with more memory (or a GPU)"
        raise InferenceError(
            f"{num_frames} frames at {width}x{height} need about {need / _GIB:.1f} GiB but only {have / _GIB:.1f} GiB "
            f"is free on {device}; {hint}"
        )
    return need
