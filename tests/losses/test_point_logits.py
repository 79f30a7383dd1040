"""PointLogits: logits of each row at its own points, equal to gathering the full logits."""

from __future__ import annotations

import torch

from segvggt.losses.mask_logits import PointLogits, SceneMaskLogits


def test_point_logits_equal_full_logits_gathered_values_and_gradients():
    g = torch.Generator().manual_seed(0)
    S, D, h, w, X, M = 3, 5, 4, 6, 4, 7
    embed = torch.randn(X, D, dtype=torch.float64, generator=g, requires_grad=True)
    features = torch.randn(S, D, h * w, dtype=torch.float64, generator=g, requires_grad=True)
    points = torch.randint(0, S * h * w, (X, M), generator=g)
    points[1, :3] = points[0, :3]  # the same pixel chosen by two rows: its gradient adds up
    full = torch.einsum("xd,sdk->xsk", embed, features).flatten(1)
    reference = full.gather(1, points)
    out = PointLogits.apply(embed, features, points)
    torch.testing.assert_close(out, reference)
    upstream = torch.randn(X, M, dtype=torch.float64, generator=g)
    grads = torch.autograd.grad((out * upstream).sum(), (embed, features))
    expected = torch.autograd.grad((reference * upstream).sum(), (embed, features))
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want)
    assert torch.autograd.gradcheck(PointLogits.apply, (embed, features, points))


def test_scene_mask_logits_pairs_from_embeddings_equal_pairs_from_full_masks():
    g = torch.Generator().manual_seed(1)
    B, Q, S, D, h, w = 1, 5, 2, 3, 4, 4
    embed = torch.randn(B, Q, D, generator=g)
    features = torch.randn(B, S, D, h, w, generator=g)
    masks = torch.einsum("bqd,bsdhw->bqshw", embed, features)
    rows = torch.tensor([4, 0, 2])
    points = torch.randint(0, S * h * w, (3, 6), generator=g)
    from_embed = SceneMaskLogits({"pred_mask_embed": embed, "instance_features": features}, "pred", 0)
    from_masks = SceneMaskLogits({"pred_masks": masks}, "pred", 0)
    torch.testing.assert_close(from_embed.pairs(rows, points), from_masks.pairs(rows, points))
    torch.testing.assert_close(from_embed.pairs(rows, points), masks[0, rows].flatten(1).gather(1, points))
