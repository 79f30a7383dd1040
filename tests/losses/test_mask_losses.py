import math

import torch

from segvggt.losses.mask_losses import (
    batch_dice_cost,
    batch_sigmoid_bce_cost,
    dice_loss,
    flatten_points,
    sample_point_indices,
    sigmoid_bce_loss,
)


def test_dice_and_bce_known_values_at_zero_logits():
    logits = torch.zeros(1, 4)
    t = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    # p = 0.5: 1 - (2*1 + 1) / (2 + 2 + 1) = 0.4; BCE = ln 2 everywhere
    torch.testing.assert_close(dice_loss(logits, t), torch.tensor([0.4]))
    torch.testing.assert_close(sigmoid_bce_loss(logits, t), torch.tensor([math.log(2)]))


def test_dice_and_bce_known_values_at_three_to_one():
    logits = torch.tensor([[math.log(3), -math.log(3)]])  # p = 0.75, 0.25
    t = torch.tensor([[1.0, 0.0]])
    torch.testing.assert_close(sigmoid_bce_loss(logits, t), torch.tensor([-math.log(0.75)]))
    torch.testing.assert_close(dice_loss(logits, t), torch.tensor([1 - 2.5 / 3]))


def test_cost_matrices_equal_pairwise_losses():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 30, generator=g) * 3
    targets = (torch.rand(3, 30, generator=g) > 0.5).float()
    bce, dice = batch_sigmoid_bce_cost(logits, targets), batch_dice_cost(logits, targets)
    assert bce.shape == dice.shape == (5, 3)
    for q in range(5):
        for n in range(3):
            torch.testing.assert_close(bce[q, n], sigmoid_bce_loss(logits[q : q + 1], targets[n : n + 1])[0])
            torch.testing.assert_close(dice[q, n], dice_loss(logits[q : q + 1], targets[n : n + 1])[0])


def test_point_indices_seeded_and_all_pixels_when_zero():
    assert sample_point_indices(100, 0, "cpu") is None
    assert sample_point_indices(100, 100, "cpu") is None
    a = sample_point_indices(1000, 50, "cpu", torch.Generator().manual_seed(3))
    b = sample_point_indices(1000, 50, "cpu", torch.Generator().manual_seed(3))
    assert a.shape == (50,) and a.dtype == torch.int64 and torch.equal(a, b)
    assert int(a.min()) >= 0 and int(a.max()) < 1000


def test_flatten_points_concatenates_views():
    masks = torch.arange(2 * 2 * 2 * 3).reshape(2, 2, 2, 3).float()  # [X, S, h, w]
    flat = flatten_points(masks, None)
    assert flat.shape == (2, 12)
    assert torch.equal(flatten_points(masks, torch.tensor([0, 6, 11])), flat[:, [0, 6, 11]])
    assert float(flat[1, 6]) == float(masks[1, 1, 0, 0])  # view 1 starts after view 0's h*w pixels
