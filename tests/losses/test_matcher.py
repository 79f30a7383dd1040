import pytest
import torch

from segvggt.losses.config import LossConfig
from segvggt.losses.matcher import HungarianMatcher


def _planted_scene():
    """3 instances on S=2 views of 4x4, 4 queries: query q copies instance order[q], query 3 is empty."""
    gt = torch.zeros(3, 2, 4, 4)
    gt[0, 0, :2] = 1
    gt[1, 0, 2:] = 1
    gt[1, 1, :, :2] = 1
    gt[2, 1, :, 2:] = 1
    order = torch.tensor([2, 0, 1])
    logits = torch.cat([(gt[order] * 2 - 1) * 10, -10 * torch.ones(1, 2, 4, 4)])
    return gt, order, logits


def _as_dict(pair):
    q, t = pair
    assert q.dtype == t.dtype == torch.int64 and q.device.type == "cpu"
    return dict(zip(t.tolist(), q.tolist()))


@pytest.mark.parametrize("num_points", [0, 20])
def test_matcher_recovers_planted_permutation(targets_from_masks, num_points):
    gt, order, logits = _planted_scene()
    targets = targets_from_masks(gt, [0, 1, 0])
    out = {"pred_masks": logits[None], "pred_logits": torch.zeros(1, 4, 3)}
    cfg = LossConfig(num_points=num_points)
    (pair,) = HungarianMatcher(cfg)(out, [targets], generator=torch.Generator().manual_seed(0))
    assert _as_dict(pair) == {2: 0, 0: 1, 1: 2}


def test_matcher_recovers_planted_permutation_with_fada(targets_from_masks):
    gt, order, logits = _planted_scene()
    targets = targets_from_masks(gt)
    mass = torch.cat([targets.visibility[order], torch.full((1, 2), 0.5)])  # [Q, S]
    out = {
        "pred_masks": logits[None],
        "pred_logits": torch.zeros(1, 4, 2),
        "frame_attention_mass": mass[None, None].expand(3, 1, 4, 2),  # [L, B, Q, S]
    }
    (pair,) = HungarianMatcher(LossConfig(num_points=0, w_fada=5.0))(out, [targets])
    assert _as_dict(pair) == {2: 0, 0: 1, 1: 2}


@pytest.mark.parametrize("swap", [False, True])
def test_fada_alone_decides_when_masks_tie(targets_from_masks, swap):
    # Two instances of equal size on different views; both queries predict the same (flat) masks and
    # classes, so every assignment has the same class + mask cost. Only the frame mass differs.
    gt = torch.zeros(2, 2, 4, 4)
    gt[0, 0, :2] = 1
    gt[1, 1, :2] = 1
    targets = targets_from_masks(gt)
    mass = torch.tensor([[0.9, 0.1], [0.1, 0.9]])  # query 0 looks at view 0, query 1 at view 1
    if swap:
        mass = mass.flip(0)
    out = {
        "pred_masks": torch.zeros(1, 2, 2, 4, 4),
        "pred_logits": torch.zeros(1, 2, 2),
        "frame_attention_mass": mass[None, None],
    }
    matcher = HungarianMatcher(LossConfig(num_points=0))
    tie = matcher.scene_cost(out["pred_logits"][0], out["pred_masks"][0], targets)  # no mass -> no FADA
    assert torch.allclose(tie[0], tie[1])
    (pair,) = matcher(out, [targets])
    assert _as_dict(pair) == ({0: 1, 1: 0} if swap else {0: 0, 1: 1})


def test_fada_switched_off_in_cost(targets_from_masks):
    gt = torch.zeros(2, 2, 4, 4)
    gt[0, 0, :2] = 1
    gt[1, 1, :2] = 1
    targets = targets_from_masks(gt)
    mass = torch.tensor([[0.1, 0.9], [0.9, 0.1]])[None, None]
    logits = torch.zeros(2, 2, 4, 4)
    matcher = HungarianMatcher(LossConfig(num_points=0))
    with_fada = matcher.scene_cost(torch.zeros(2, 2), logits, targets, mass[:, 0])
    without = HungarianMatcher(LossConfig(num_points=0, fada_in_cost=False)).scene_cost(
        torch.zeros(2, 2), logits, targets, mass[:, 0]
    )
    assert torch.allclose(without[0], without[1])
    assert not torch.allclose(with_fada[0], with_fada[1])


def test_empty_scene_gives_empty_indices(targets_from_masks):
    _, _, logits = _planted_scene()
    empty = targets_from_masks(torch.zeros(0, 2, 4, 4))
    full = targets_from_masks(_planted_scene()[0])
    out = {"pred_masks": logits[None].repeat(2, 1, 1, 1, 1), "pred_logits": torch.zeros(2, 4, 3)}
    pairs = HungarianMatcher(LossConfig(num_points=0))(out, [empty, full])
    assert pairs[0][0].numel() == pairs[0][1].numel() == 0 and pairs[0][0].dtype == torch.int64
    assert _as_dict(pairs[1]) == {2: 0, 0: 1, 1: 2}


def test_class_term_uses_label_probability(targets_from_masks):
    gt = torch.zeros(2, 1, 2, 2)
    gt[:, 0, 0, 0] = 1  # identical masks: only the class decides
    targets = targets_from_masks(gt, [1, 0])
    pred_logits = torch.tensor([[[5.0, -5.0, 0.0], [-5.0, 5.0, 0.0]]])  # q0 says class 0, q1 class 1
    out = {"pred_masks": torch.zeros(1, 2, 1, 2, 2), "pred_logits": pred_logits}
    (pair,) = HungarianMatcher(LossConfig(num_points=0))(out, [targets])
    assert _as_dict(pair) == {0: 1, 1: 0}


def test_mask_shape_mismatch_is_a_clear_error(targets_from_masks):
    targets = targets_from_masks(torch.ones(1, 2, 4, 4))
    out = {"pred_masks": torch.zeros(1, 3, 2, 8, 8), "pred_logits": torch.zeros(1, 3, 2)}
    with pytest.raises(ValueError, match="do not match the predicted"):
        HungarianMatcher(LossConfig())(out, [targets])
