"""bf16 autocast on CPU and gradient checkpointing as a constructor option."""

from __future__ import annotations

import torch
from helpers import model_from
from torch.testing import assert_close

import segvggt.backbone.aggregator as aggregator_module


def test_bf16_autocast_runs_on_cpu_with_fp32_heads(conv_fixture):
    model = model_from(conv_fixture)
    images = conv_fixture["images"]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        tokens, idx = model.aggregator(images)
        out = model.run_heads(tokens, images, idx)
    assert tokens[-1].dtype == torch.float32  # LayerScale's fp32 gamma keeps the residual stream fp32
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
    assert len(calls) == 2 * ckpt.aggregator.depth
    assert_close(out_ckpt["depth"], out_plain["depth"], atol=1e-6, rtol=1e-6)
    assert grads_plain.keys() == grads_ckpt.keys() and len(grads_plain) > 300
    for name in grads_plain:
        assert_close(grads_ckpt[name], grads_plain[name], atol=1e-6, rtol=1e-5, msg=lambda m: f"{name}: {m}")
    with torch.no_grad():
        ckpt(images)  # no autograd -> no checkpoint overhead
    assert len(calls) == 2 * ckpt.aggregator.depth
