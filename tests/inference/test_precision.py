"""bf16 inference: which weights are cast, and how far bf16 outputs lie from fp32 on the parity fixture."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from segvggt.inference.errors import InferenceError
from segvggt.inference.precision import fp32_islands, prepare_bf16, resolve_precision
from segvggt.segmentation.segvggt import build_segvggt

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PROMPT = [[[(0, 20.0, 30.0, True), (2, 40.0, 10.0, False)]]]


@pytest.fixture(scope="module")
def fixture_model():
    """Tiny SegVGGT on the 24-layer DINOv2 parity backbone with the fixture's (official-code) weights."""
    torch.set_num_threads(1)
    fixture = torch.load(FIXTURES / "vggt_parity_dinov2.pt")
    torch.manual_seed(0)
    model = build_segvggt(fixture["config"], num_queries=6, num_classes=3, query_dim=16, query_heads=4, mask_dim=8,
                          lora_rank=0).eval()  # fmt: skip
    model.load_vggt_checkpoint(fixture["state_dict"])
    with torch.no_grad():
        model.query_heads.mask_embed.layers[-1].weight.mul_(30.0)  # spread the mask logits
    return model, fixture["images"]


def test_bf16_weights_leave_the_fp32_islands_and_norms_in_fp32(fixture_model):
    model = copy.deepcopy(fixture_model[0])
    saved = prepare_bf16(model)
    assert saved > 0 and model.vggt.cfg.head_autocast
    islands = {id(p) for island in fp32_islands(model) for p in island.parameters()}
    assert islands and all(p.dtype == torch.float32 for p in model.vggt.camera_head.parameters())
    assert model.vggt.depth_head.scratch.output_conv2[0].weight.dtype == torch.float32
    for name, module in model.named_modules():
        for p in module.parameters(recurse=False):
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and id(p) not in islands:
                assert p.dtype == torch.bfloat16, name
            elif id(p) not in islands:
                assert p.dtype == torch.float32, name  # LayerNorm, LayerScale, tokens, embeddings
    assert model.query_blocks[0].cross_kv.weight.dtype == torch.bfloat16


def test_bf16_outputs_stay_close_to_fp32_on_the_fixture(fixture_model):
    model, images = fixture_model
    with torch.no_grad():
        reference = model(images, PROMPT)
    half = copy.deepcopy(model)
    prepare_bf16(half)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = half(images, PROMPT)
    depth, ref_depth = out["depth"].float(), reference["depth"]
    relative = (depth - ref_depth).abs() / ref_depth.abs()
    assert relative.max() < 0.02 and relative.mean() < 0.005  # measured: 0.7 % max, 0.1 % mean
    for key in ("pred_masks", "prompt_masks"):
        ref, got = reference[key], out[key].float()
        assert (got - ref).abs().max() < 0.03 * ref.abs().max(), key  # measured: ~1 % of the logit range
        # The masks a threshold makes agree (threshold at the median so both sides are populated).
        cut = ref.median()
        assert ((got > cut) == (ref > cut)).float().mean() > 0.97, key
    # bf16 does change something (the comparison could fail).
    assert (depth - ref_depth).abs().max() > 0


def test_precision_names():
    assert resolve_precision("fp32", torch.device("cpu")) is None
    assert resolve_precision("auto", torch.device("cpu")) is None  # CPUs run fp32 unless asked
    assert resolve_precision("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(InferenceError, match="choose one of auto, fp32, bf16"):
        resolve_precision("int8", torch.device("cpu"))
