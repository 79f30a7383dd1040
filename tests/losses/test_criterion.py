import math

import pytest
import torch
import torch.nn.functional as F

from segvggt.losses.config import LossConfig
from segvggt.losses.criterion import SetCriterion, weighted_sum
from segvggt.losses.mask_losses import dice_loss, sigmoid_bce_loss


def _outputs(B=1, Q=3, K=2, S=2, h=4, w=4, L=2, seed=0, R=0):
    g = torch.Generator().manual_seed(seed)
    out = {
        "pred_logits": torch.randn(B, Q, K + 1, generator=g).requires_grad_(),
        "pred_masks": torch.randn(B, Q, S, h, w, generator=g).requires_grad_(),
        "frame_attention_mass": torch.randn(L, B, Q, S, generator=g).softmax(-1).requires_grad_(),
    }
    if R:
        out["prompt_masks"] = torch.randn(B, R, S, h, w, generator=g).requires_grad_()
        out["prompt_scores"] = torch.zeros(B, R, requires_grad=True)
        out["prompt_valid"] = torch.ones(B, R, dtype=torch.bool)
    return out


def test_empty_targets_class_only_finite_and_backward(targets_from_masks):
    out = _outputs(B=2)
    empty = [targets_from_masks(torch.zeros(0, 2, 4, 4)) for _ in range(2)]
    losses = SetCriterion(LossConfig(num_points=0))(out, empty)
    assert set(losses) == {"loss_class", "loss_bce", "loss_dice", "loss_fada"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_bce"].item() == losses["loss_dice"].item() == losses["loss_fada"].item() == 0.0
    # all queries -> no-object; every term has the same weight, so the weighted mean is a plain mean
    expected = -F.log_softmax(out["pred_logits"], -1)[..., -1].mean()
    torch.testing.assert_close(losses["loss_class"], expected)
    SetCriterion(LossConfig()).weighted_sum(losses).backward()
    assert out["pred_masks"].grad is not None and out["pred_logits"].grad is not None


def test_loss_class_no_object_weighting_by_hand(targets_from_masks):
    logits = torch.tensor([[[2.0, 0.5, -1.0], [0.3, 0.1, 1.5]]])  # B=1, Q=2, K=2
    targets = targets_from_masks(torch.ones(1, 1, 2, 2), [1])
    crit = SetCriterion(LossConfig(no_object_weight=0.1))
    indices = [(torch.tensor([0]), torch.tensor([0]))]
    loss = crit.loss_class(logits, [targets], indices)
    l0 = -math.log(math.exp(0.5) / sum(math.exp(x) for x in (2.0, 0.5, -1.0)))  # query 0 -> class 1
    l1 = -math.log(math.exp(1.5) / sum(math.exp(x) for x in (0.3, 0.1, 1.5)))  # query 1 -> no object
    assert abs(float(loss) - (1.0 * l0 + 0.1 * l1) / 1.1) < 1e-6


@pytest.mark.parametrize("per_frame", [False, True])
def test_matched_mask_and_fada_losses_by_hand(targets_from_masks, per_frame):
    out = _outputs(Q=3, S=2)
    gt = torch.zeros(2, 2, 4, 4)
    gt[0, 0, :2] = 1
    gt[1, :, :, 3] = 1
    targets = targets_from_masks(gt, [0, 1])
    indices = [(torch.tensor([2, 0]), torch.tensor([0, 1]))]
    losses = SetCriterion(LossConfig(num_points=0, fada_frame_normalization=per_frame))(out, [targets], indices=indices)
    logits = out["pred_masks"][0, [2, 0]].flatten(1)
    t = gt.flatten(1)
    torch.testing.assert_close(losses["loss_bce"], sigmoid_bce_loss(logits, t).sum() / 2)
    torch.testing.assert_close(losses["loss_dice"], dice_loss(logits, t).sum() / 2)
    from segvggt.losses.fada import js_divergence

    js = js_divergence(out["frame_attention_mass"][:, 0, [2, 0]], targets.visibility[None])  # [L, 2]
    S = 2 if per_frame else 1  # divided by the S = 2 frames only with fada_frame_normalization
    torch.testing.assert_close(losses["loss_fada"], (js.mean(0) / S).sum() / 2)  # / num_masks = 2


def test_fada_loss_switch_and_missing_mass(targets_from_masks):
    out = _outputs()
    targets = [targets_from_masks(torch.ones(1, 2, 4, 4))]
    assert "loss_fada" not in SetCriterion(LossConfig(fada_loss=False))(out, targets)
    del out["frame_attention_mass"]
    assert "loss_fada" not in SetCriterion(LossConfig())(out, targets)


def test_criterion_matches_then_losses_are_small_for_perfect_prediction(targets_from_masks):
    gt = torch.zeros(2, 2, 4, 4)
    gt[0, 0, :2] = 1
    gt[1, 1, 2:] = 1
    targets = targets_from_masks(gt, [1, 0])
    masks = torch.cat([(gt.flip(0) * 2 - 1) * 20, -20 * torch.ones(1, 2, 4, 4)])[None]
    logits = torch.full((1, 3, 3), -20.0)
    logits[0, 0, 0] = logits[0, 1, 1] = logits[0, 2, 2] = 20.0
    out = {"pred_masks": masks, "pred_logits": logits}
    crit = SetCriterion(LossConfig(num_points=16))
    losses = crit(out, [targets], generator=torch.Generator().manual_seed(0))
    assert all(v.item() < 1e-6 for v in losses.values()), losses


def test_prompt_losses_known_values(targets_from_masks):
    gt = torch.zeros(2, 2, 4, 4)
    gt[0, 0, :2] = 1
    gt[1, 1, 2:] = 1
    targets = targets_from_masks(gt)
    out = _outputs(R=3)
    out["prompt_masks"] = ((gt[[1, 0]] * 2 - 1) * 30)[None].repeat(1, 1, 1, 1, 1)
    out["prompt_masks"] = torch.cat([out["prompt_masks"], torch.zeros(1, 1, 2, 4, 4)], 1).requires_grad_()
    out["prompt_valid"] = torch.tensor([[True, True, False]])
    losses = SetCriterion(LossConfig(num_points=0))(out, [targets], prompt_targets=[torch.tensor([1, 0])])
    assert losses["loss_prompt_bce"].item() < 1e-6 and losses["loss_prompt_dice"].item() < 0.1
    # perfect masks -> IoU 1; score logit 0 -> BCE(0, 1) = ln 2 per prompt, summed and divided by 2 prompts
    torch.testing.assert_close(losses["loss_prompt_score"], torch.tensor(math.log(2)))
    # wrong instance -> IoU 0 -> BCE(0, 0) = ln 2 as well, but masks now cost a lot
    wrong = SetCriterion(LossConfig(num_points=0))(out, [targets], prompt_targets=[torch.tensor([0, 1])])
    assert wrong["loss_prompt_bce"].item() > 10


def test_prompt_targets_validation(targets_from_masks):
    targets = [targets_from_masks(torch.ones(1, 2, 4, 4))]
    out = _outputs(R=2)
    with pytest.raises(ValueError, match="out of range"):
        SetCriterion(LossConfig())(out, targets, prompt_targets=[torch.tensor([0, 3])])
    out["prompt_valid"] = torch.tensor([[True, False]])
    with pytest.raises(ValueError, match="prompt_valid"):
        SetCriterion(LossConfig())(out, targets, prompt_targets=[torch.tensor([0, 0])])
    del out["prompt_masks"]
    with pytest.raises(ValueError, match="prompt_masks"):
        SetCriterion(LossConfig())(out, targets, prompt_targets=[torch.tensor([0])])


def test_weighted_sum_applies_config_weights_once():
    cfg = LossConfig(w_class=2.0, w_bce=5.0, w_dice=3.0, w_camera=5.0)
    losses = {
        "loss_class": torch.tensor(1.0),
        "loss_bce": torch.tensor(0.5),
        "loss_dice": torch.tensor(0.25),
        "loss_camera": torch.tensor(0.1),
        "camera_T": torch.tensor(100.0),  # diagnostic: not summed
    }
    assert abs(float(weighted_sum(losses, cfg)) - (2.0 + 2.5 + 0.75 + 0.5)) < 1e-6
    assert float(SetCriterion(cfg).weighted_sum(losses)) == float(weighted_sum(losses, cfg))
    with pytest.raises(ValueError, match="no weight"):
        weighted_sum({"loss_unknown": torch.tensor(1.0)}, cfg)


def test_matching_weights_equal_loss_weights():
    cfg = LossConfig(w_class=3.0, w_bce=4.0, w_dice=6.0, w_fada=7.0)
    w = cfg.loss_weights()
    assert (w["loss_class"], w["loss_bce"], w["loss_dice"], w["loss_fada"]) == (3.0, 4.0, 6.0, 7.0)


def test_all_outputs_receive_gradients_and_bf16_inputs_give_fp32_losses(targets_from_masks):
    gt = torch.zeros(2, 2, 4, 4)
    gt[0, 0, :2] = 1
    gt[1, 1, 2:] = 1
    out = _outputs(B=1, Q=3, R=2)
    crit = SetCriterion(LossConfig(num_points=8))
    losses = crit(out, [targets_from_masks(gt, [0, 1])], prompt_targets=[torch.tensor([1, 0])])
    crit.weighted_sum(losses).backward()
    for key in ("pred_logits", "pred_masks", "frame_attention_mass", "prompt_masks", "prompt_scores"):
        assert out[key].grad is not None and out[key].grad.abs().sum() > 0, key
    half = {k: (v.detach().bfloat16() if v.is_floating_point() else v) for k, v in out.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = crit(half, [targets_from_masks(gt, [0, 1])], prompt_targets=[torch.tensor([1, 0])])
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in low.values())
