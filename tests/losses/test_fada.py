import math

import torch

from segvggt.losses.fada import fada_cost, fada_loss, js_divergence


def test_js_identical_is_zero_and_disjoint_is_ln2():
    p = torch.tensor([0.2, 0.3, 0.5, 0.0])
    assert float(js_divergence(p, p)) == 0.0
    a = torch.tensor([0.5, 0.5, 0.0, 0.0])
    b = torch.tensor([0.0, 0.0, 0.25, 0.75])
    torch.testing.assert_close(js_divergence(a, b), torch.tensor(math.log(2)))


def test_js_hand_computed_pair():
    # m = (0.75, 0.25); KL(p||m) = ln(4/3); KL(q||m) = 0.5 ln(2/3) + 0.5 ln 2 = 0.5 ln(4/3)
    p, q = torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5])
    expected = 0.5 * (math.log(4 / 3) + 0.5 * math.log(4 / 3))
    torch.testing.assert_close(js_divergence(p, q), torch.tensor(expected))
    torch.testing.assert_close(js_divergence(q, p), torch.tensor(expected))


def test_js_gradient_is_finite_with_zeros():
    p = torch.tensor([1.0, 0.0, 0.0], requires_grad=True)
    q = torch.tensor([0.0, 0.5, 0.5])
    js_divergence(p, q).backward()
    assert torch.isfinite(p.grad).all()


def test_fada_cost_is_layer_mean_of_js_divided_by_frames():
    g = torch.Generator().manual_seed(0)
    L, Q, N, S = 3, 4, 2, 5
    mass = torch.rand(L, Q, S, generator=g).softmax(-1)
    vis = torch.rand(N, S, generator=g).softmax(-1)
    cost = fada_cost(mass, vis)
    assert cost.shape == (Q, N)
    for q in range(Q):
        for n in range(N):
            expected = sum(float(js_divergence(mass[l, q], vis[n])) for l in range(L)) / L / S
            assert abs(float(cost[q, n]) - expected) < 1e-6
    torch.testing.assert_close(fada_cost(mass, vis, frame_normalization=False), cost * S)


def test_fada_loss_equals_cost_of_the_pair():
    g = torch.Generator().manual_seed(1)
    mass = torch.rand(2, 3, 4, generator=g).softmax(-1)  # [L, M, S]
    vis = torch.rand(3, 4, generator=g).softmax(-1)
    loss = fada_loss(mass, vis)
    torch.testing.assert_close(loss, torch.diagonal(fada_cost(mass, vis)))
