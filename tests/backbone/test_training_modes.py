"""bf16 autocast on CPU and gradient checkpointing as a constructor option."""

from __future__ import annotations

import pytest
import torch
from helpers import model_from
from torch.testing import assert_close

import segvggt.backbone.aggregator as aggregator_module


def test_bf16_autocast_runs_on_cpu_with_fp32_heads(conv_fixture):
    model = model_from(conv_fixture)
    images = conv_fixture["images"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tokens, idx = model.aggregator(images)
    assert tokens[-1].dtype == torch.float32  # LayerScale's fp32 gamma keeps the residual stream fp32
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        tokens, idx = model.aggregator(images)  # inference: kept layers in bf16 (see the test below)
        out = model.run_heads(tokens, images, idx)
    for key in ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf"):
        assert out[key].dtype == torch.float32, key
        assert torch.isfinite(out[key]).all(), key
    # bf16 is coarse but must stay near the fp32 result on this tiny model
    assert (out["depth"] - conv_fixture["outputs"]["depth"]).abs().max() < 0.5


def _loss_and_grads(model, images):
    out = model(images)
    loss = out["depth"].mean() + out["pose_enc"].square().mean() + out["world_points"].mean()
    loss.backward()
    return out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_gradient_checkpointing_same_outputs_and_grads_not_tied_to_training(conv_fixture, monkeypatch):
    calls = []
    real = aggregator_module.checkpoint

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(aggregator_module, "checkpoint", counting)
    images = conv_fixture["images"]
    plain = model_from(conv_fixture).train()  # train mode alone must not checkpoint
    out_plain, grads_plain = _loss_and_grads(plain, images)
    assert calls == []
    ckpt = model_from(conv_fixture, checkpoint_blocks=True).eval()  # eval mode must still checkpoint
    out_ckpt, grads_ckpt = _loss_and_grads(ckpt, images)
    assert len(calls) == ckpt.aggregator.depth  # one checkpoint per layer (frame + global block)
    assert_close(out_ckpt["depth"], out_plain["depth"], atol=1e-6, rtol=1e-6)
    assert grads_plain.keys() == grads_ckpt.keys() and len(grads_plain) > 300
    for name in grads_plain:
        assert_close(grads_ckpt[name], grads_plain[name], atol=1e-6, rtol=1e-5, msg=lambda m: f"{name}: {m}")
    with torch.no_grad():
        ckpt(images)  # no autograd -> no checkpoint overhead
    assert len(calls) == ckpt.aggregator.depth


def test_checkpointed_heads_give_the_same_outputs_and_grads(conv_fixture):
    images = conv_fixture["images"]
    plain = model_from(conv_fixture)
    out_plain, grads_plain = _loss_and_grads(plain, images)
    ckpt = model_from(conv_fixture, checkpoint_heads=True, checkpoint_blocks=True, frames_chunk_size=1)
    out_ckpt, grads_ckpt = _loss_and_grads(ckpt, images)
    for key in ("depth", "depth_conf", "world_points", "pose_enc"):
        assert_close(out_ckpt[key], out_plain[key], atol=1e-6, rtol=1e-6)
    assert grads_plain.keys() == grads_ckpt.keys()
    for name in grads_plain:
        assert_close(grads_ckpt[name], grads_plain[name], atol=1e-6, rtol=1e-5, msg=lambda m: f"{name}: {m}")


def test_kept_layers_equal_the_full_list_and_heads_read_only_those(conv_fixture):
    model = model_from(conv_fixture)
    images = conv_fixture["images"]
    with torch.no_grad():
        full, _ = model.aggregator(images)
        keep = model.head_layers()
        seen = []
        kept, idx = model.aggregator(images, keep_layers=keep, on_layer=lambda i, g: seen.append((i, g.shape)))
        out = model.run_heads(kept, images, idx)
    depth = model.cfg.aggregator.depth
    assert keep == {depth - 1, *model.cfg.depth_head.intermediate_layer_idx, *model.cfg.point_head.intermediate_layer_idx}
    assert [i for i, _ in seen] == list(range(depth))
    for i in range(depth):
        if i in keep:
            assert torch.equal(kept[i], full[i])
        else:
            assert kept[i] is None
    assert torch.equal(out["depth"], conv_fixture["outputs"]["depth"]) or (
        out["depth"] - conv_fixture["outputs"]["depth"]
    ).abs().max() < 1e-6
    assert model.head_layers(["camera"]) == {depth - 1}
    with torch.no_grad():
        only = model(images, heads=["camera", "depth"])
    assert "world_points" not in only and "depth" in only


def test_head_autocast_runs_dense_heads_in_bf16_but_outputs_stay_fp32(conv_fixture):
    images = conv_fixture["images"]
    fp32_heads = model_from(conv_fixture)
    bf16_heads = model_from(conv_fixture, head_autocast=True)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ref = fp32_heads(images)
        out = bf16_heads(images)
    for key in ("depth", "depth_conf", "world_points", "world_points_conf"):
        assert out[key].dtype == torch.float32, key
    diff = (out["depth"] - ref["depth"]).abs().max()
    assert 0 < diff < 0.05 * ref["depth"].abs().max()  # bf16 convolutions: close, not identical


def test_kept_layers_use_the_autocast_dtype_at_inference_only(conv_fixture):
    model = model_from(conv_fixture)
    images = conv_fixture["images"]
    keep = model.head_layers()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        inference, _ = model.aggregator(images, keep_layers=keep)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        training, _ = model.aggregator(images, keep_layers=keep)
    with torch.no_grad():
        plain, _ = model.aggregator(images, keep_layers=keep)
    for i in keep:
        assert inference[i].dtype == torch.bfloat16  # half the bytes of the 4 taps at inference
        assert training[i].dtype == torch.float32  # the heads' backward reads fp32 inputs
        assert plain[i].dtype == torch.float32
        torch.testing.assert_close(inference[i].float(), training[i].detach(), atol=0, rtol=2**-8)


def test_sincos_position_embedding_values_and_conv_stem_option():
    import math

    from segvggt.backbone.aggregator import Aggregator
    from segvggt.backbone.config import AggregatorConfig
    from segvggt.backbone.patch_embed import sincos_position_embedding_2d

    emb = sincos_position_embedding_2d(2, 3, 8)  # rows 0..1, cols 0..2; frequencies 1 and 1/100
    assert emb.shape == (6, 8)
    token = 1 * 3 + 2  # row 1, col 2
    expected = [math.sin(1), math.sin(0.01), math.cos(1), math.cos(0.01),
                math.sin(2), math.sin(0.02), math.cos(2), math.cos(0.02)]  # fmt: skip
    assert emb[token].tolist() == pytest.approx(expected, abs=1e-6)
    cfg = AggregatorConfig(depth=1, num_heads=2, patch_embed="conv", conv_position_embedding="sincos")
    agg = Aggregator(cfg, embed_dim=8)
    images = torch.rand(1, 1, 3, 28, 42)
    plain = agg.patch_embed(rearrange_images(agg, images))
    torch.testing.assert_close(agg.embed(images) - plain, sincos_position_embedding_2d(2, 3, 8)[None])
    with pytest.raises(ValueError, match="conv_position_embedding"):
        Aggregator(AggregatorConfig(depth=1, num_heads=2, patch_embed="conv", conv_position_embedding="learned"), embed_dim=8)


def rearrange_images(agg, images):
    x = (images - agg._resnet_mean) / agg._resnet_std
    return x.reshape(-1, *images.shape[2:])
