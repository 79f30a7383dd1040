"""Mask2Former's deep supervision: each query block's predictions get the class and mask losses with
their own matching, under the final losses' weights."""

from __future__ import annotations

import torch

from segvggt.losses.config import LossConfig, aux_base_key
from segvggt.losses.criterion import SetCriterion, weighted_sum


def _outputs(seed: int, B=1, Q=3, K=2, S=2, h=4, w=4) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"pred_logits": torch.randn(B, Q, K + 1, generator=g), "pred_masks": torch.randn(B, Q, S, h, w, generator=g)}


def test_a_block_that_predicts_like_the_last_gets_the_same_losses(targets_from_masks):
    masks = torch.zeros(2, 2, 4, 4)
    masks[0, :, :2], masks[1, :, 2:] = 1, 1
    targets = [targets_from_masks(masks)]
    final = _outputs(0)
    other = _outputs(1)
    out = {**final, "aux_outputs": [dict(final), other]}
    losses = SetCriterion(LossConfig(num_points=0))(out, targets)
    assert set(losses) == {f"{k}{s}" for k in ("loss_class", "loss_bce", "loss_dice") for s in ("", "_aux0", "_aux1")}
    for key in ("loss_class", "loss_bce", "loss_dice"):
        assert torch.equal(losses[f"{key}_aux0"], losses[key])  # same predictions: same matching, same loss
    alone = SetCriterion(LossConfig(num_points=0))(other, targets)
    for key in ("loss_class", "loss_bce", "loss_dice"):
        assert torch.equal(losses[f"{key}_aux1"], alone[key])  # matched on its own, not with the final's pairs


def test_auxiliary_losses_take_their_final_losses_weights():
    assert [aux_base_key(k) for k in ("loss_bce_aux3", "loss_dice_aux12", "loss_class", "loss_auxiliary")] == [
        "loss_bce", "loss_dice", "loss_class", "loss_auxiliary"]  # fmt: skip
    cfg = LossConfig(w_class=2.0, w_bce=5.0)
    losses = {"loss_class": torch.tensor(1.0), "loss_class_aux0": torch.tensor(0.5), "loss_bce_aux1": torch.tensor(0.1)}
    assert abs(float(weighted_sum(losses, cfg)) - (2.0 + 1.0 + 0.5)) < 1e-6
