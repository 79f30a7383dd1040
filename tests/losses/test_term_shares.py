"""Each term's share of a matching cost and of a loss, on hand-made numbers."""

import pytest
import torch

from segvggt.losses.term_shares import cost_term_shares, loss_term_shares


def test_cost_shares_magnitude_and_spread():
    dice = torch.tensor([[0.2, 0.9], [0.8, 0.1]])  # varies over queries: it decides the matching
    fada = torch.tensor([[0.01, 0.01], [0.01, 0.01]])  # constant: changes no decision
    shares = cost_term_shares({"dice": dice, "fada": fada}, {"dice": 5.0, "fada": 1.0})
    # magnitude: dice 5 * mean(0.2, 0.9, 0.8, 0.1) = 2.5, fada 0.01
    assert shares["magnitude"]["dice"] == pytest.approx(2.5 / 2.51)
    assert shares["magnitude"]["fada"] == pytest.approx(0.01 / 2.51)
    # spread: per column std over queries of 5 * dice = 5 * 0.3 and 5 * 0.4 -> mean 1.75; fada 0
    assert shares["spread"] == {"dice": pytest.approx(1.0), "fada": 0.0}


def test_cost_shares_edge_cases():
    empty = cost_term_shares({"a": torch.zeros(3, 0), "b": torch.zeros(3, 0)})
    assert empty == {"magnitude": {"a": 0.0, "b": 0.0}, "spread": {"a": 0.0, "b": 0.0}}
    with pytest.raises(ValueError, match=r"\[Q, N\]"):
        cost_term_shares({"a": torch.zeros(3, 2), "b": torch.zeros(2, 2)})


def test_loss_shares_use_weights_and_only_loss_keys():
    losses = {"loss_dice": torch.tensor(0.5), "loss_fada": torch.tensor(0.02), "matched": torch.tensor(7.0)}
    shares = loss_term_shares(losses, {"loss_dice": 5.0, "loss_fada": 1.0})
    assert shares == {"loss_dice": pytest.approx(2.5 / 2.52), "loss_fada": pytest.approx(0.02 / 2.52)}
