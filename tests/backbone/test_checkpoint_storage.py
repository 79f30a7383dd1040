"""Checkpointed layer inputs stored in bf16: the forward value is unchanged, the backward pass
recomputes from the bf16 copy (hand-computed gradients), other saved tensors are untouched."""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from segvggt.backbone.checkpoint_storage import low_precision_layer_inputs


def _square_sum(t):
    return (t * t).sum()


def test_layer_sized_inputs_are_recomputed_from_bf16_and_others_from_fp32():
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 3, 4, 5, generator=g) * 3).requires_grad_()  # "a layer": its storage is layer-sized
    y = (torch.randn(7, generator=g) * 3).requires_grad_()  # another size: saved as it is
    with low_precision_layer_inputs(x.numel() * 4, torch.bfloat16):
        h = x * 1.0  # a non-leaf layer output, as the aggregator's
        total = checkpoint(_square_sum, h, use_reentrant=False) + checkpoint(_square_sum, h[:, 1:], use_reentrant=False)
        total = total + checkpoint(_square_sum, y, use_reentrant=False)
    exact = (x * x).sum() + (x[:, 1:] * x[:, 1:]).sum() + (y * y).sum()
    assert torch.equal(total, exact)  # the forward pass used the fp32 values
    total.backward()
    low = x.detach().bfloat16().float()
    expected = 2 * low
    expected[:, 1:] += 2 * low[:, 1:]  # the view is restored from the same bf16 copy
    assert torch.equal(x.grad, expected)
    assert not torch.equal(x.grad, 2 * x.detach() + torch.cat([torch.zeros_like(x[:, :1]), 2 * x.detach()[:, 1:]], 1))
    assert torch.equal(y.grad, 2 * y.detach())  # not layer-sized: recomputed from fp32
