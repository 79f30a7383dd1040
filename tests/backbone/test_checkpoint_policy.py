"""Keeping the global attention's outputs in the aggregator's checkpoints: the backward pass attends
once less per layer and the gradients are exactly those of the plain checkpoint."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from segvggt.backbone import build_vggt
from segvggt.backbone.checkpoint_policy import attention_ops

TINY = {
    "vggt": {"img_size": 56, "patch_size": 14, "embed_dim": 64, "enable_point": False},
    "aggregator": {"depth": 3, "num_heads": 2, "patch_embed": "conv"},
    "camera_head": {"dim_in": 128, "trunk_depth": 1, "num_heads": 2},
    "dpt_common": {"dim_in": 128, "features": 8, "out_channels": [4, 8, 16, 16], "intermediate_layer_idx": [0, 1, 2, 2]},
}  # fmt: skip


class AttentionCount(TorchDispatchMode):
    """Counts the fused attention kernels that actually run (a kept output is not run again)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops, self.lengths = attention_ops(), []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in self.ops:
            self.lengths.append(args[0].shape[-2])
        return func(*args, **(kwargs or {}))


def _step(keep: bool, S: int):
    torch.manual_seed(0)
    model = build_vggt(TINY, checkpoint_blocks=True, checkpoint_low_precision=True,
                       checkpoint_keep_global_attention=keep).train()  # fmt: skip
    images = torch.rand(2, S, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    with AttentionCount() as count:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(images)
            loss = out["depth"].float().square().mean() + out["pose_enc"].float().square().mean()
        loss.backward()
    return loss.detach(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}, count.lengths


def test_global_attention_is_not_recomputed_and_gradients_are_unchanged():
    P = 1 + 4 + 16  # camera, 4 registers, 4 x 4 patches
    loss, grads, plain = _step(False, S=3)
    kept_loss, kept_grads, kept = _step(True, S=3)
    assert torch.equal(loss, kept_loss) and grads.keys() == kept_grads.keys()
    assert all(torch.equal(grads[n], kept_grads[n]) for n in grads)
    # 3 layers: plain = forward (3 frame + 3 global) + recomputation (3 + 3); kept: the 3 global ones once.
    # (The camera head's attention over the S camera tokens is shorter than a view and not counted.)
    assert sorted(n for n in plain if n >= P) == sorted([P] * 6 + [3 * P] * 6)
    assert sorted(n for n in kept if n >= P) == sorted([P] * 6 + [3 * P] * 3)


def test_one_view_keeps_nothing():
    P = 1 + 4 + 16
    _, _, kept = _step(True, S=1)
    # global attention over one view is as long as the frame's: recomputed like it
    assert sorted(n for n in kept if n >= P) == [P] * 12
