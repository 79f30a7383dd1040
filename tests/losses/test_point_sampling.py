"""Mask2Former point sampling with per-instance points, and mask logits from embeddings."""

import pytest
import torch

from segvggt.losses import SetCriterion
from segvggt.losses.config import LossConfig
from segvggt.losses.matcher import HungarianMatcher
from segvggt.losses.point_sampling import importance_points, instance_points, scene_points


def _small_instance_scene():
    """S=1 view of 32x32: a big instance (left half) and a tiny one (2 pixels). Queries: 0 = big,
    1 = a decoy predicting nothing, 2 = exactly the tiny instance, 3 = nothing."""
    gt = torch.zeros(2, 1, 32, 32)
    gt[0, 0, :, :16] = 1
    gt[1, 0, 5, 30:32] = 1
    pred = torch.full((4, 1, 32, 32), -10.0)
    pred[0] = gt[0] * 20 - 10
    pred[2] = gt[1] * 20 - 10
    out = {"pred_masks": pred[None], "pred_logits": torch.zeros(1, 4, 3)}
    return gt, out


def test_a_small_instance_missed_by_uniform_points_is_matched_with_per_instance_points(targets_from_masks):
    gt, out = _small_instance_scene()
    targets = targets_from_masks(gt)
    tiny = torch.nonzero(gt[1].flatten()).squeeze(1)
    seed = next(s for s in range(100) if not torch.isin(
        scene_points(gt.flatten(1), 16, 0, torch.Generator().manual_seed(s)).uniform, tiny).any())
    uniform_only = LossConfig(num_points=16, points_per_instance=0)
    points = scene_points(gt.flatten(1), 16, 0, torch.Generator().manual_seed(seed)).shared()
    cost = HungarianMatcher(uniform_only).scene_cost(out["pred_logits"][0], out["pred_masks"][0], targets, None, points)
    # Uniform points never land on the tiny instance: the decoy and the right query cost the same.
    assert torch.equal(cost[1, 1], cost[2, 1])
    with_instances = LossConfig(num_points=16, points_per_instance=4)
    (pair,) = HungarianMatcher(with_instances)(out, [targets], generator=torch.Generator().manual_seed(seed))
    assert dict(zip(pair[1].tolist(), pair[0].tolist())) == {0: 0, 1: 2}


def test_instance_points_lie_inside_their_instance():
    masks = torch.zeros(3, 50)
    masks[0, 3] = 1
    masks[1, 10:20] = 1
    masks[2, 40:] = 1
    pts = instance_points(masks, 7, torch.Generator().manual_seed(1))
    assert pts.shape == (3, 7)
    for n in range(3):
        assert bool(masks[n, pts[n]].all())
    assert set(pts[0].tolist()) == {3}


def test_importance_points_take_the_most_uncertain_candidates():
    logits = torch.full((2, 1000), -8.0)
    logits[:, 100:200] = 0.0  # the uncertain pixels (|logit| smallest)
    pts = importance_points(logits, num_points=20, oversample_ratio=40.0, importance_sample_ratio=0.75,
                            generator=torch.Generator().manual_seed(0))
    assert pts.shape == (2, 20)
    # 800 candidates hit the 100 uncertain pixels ~80 times: the 15 most uncertain are all in there.
    assert bool(((pts[:, :15] >= 100) & (pts[:, :15] < 200)).all())
    none_uncertain = importance_points(logits, 20, 1.0, 0.0, torch.Generator().manual_seed(0))
    assert none_uncertain.shape == (2, 20)


@pytest.mark.parametrize("num_points", [0, 40])
def test_losses_from_mask_embeddings_equal_losses_from_full_masks(targets_from_masks, num_points):
    torch.manual_seed(0)
    B, Q, R, S, D, h, w = 2, 4, 2, 2, 5, 6, 7
    embed, prompt_embed = torch.randn(B, Q, D, requires_grad=True), torch.randn(B, R, D)
    features = torch.randn(B, S, D, h, w)
    gt = (torch.rand(B, 3, S, h, w) > 0.6).float()
    targets = [targets_from_masks(gt[b], [0, 1, 0]) for b in range(B)]
    common = {
        "pred_logits": torch.randn(B, Q, 3),
        "prompt_scores": torch.zeros(B, R),
        "prompt_valid": torch.ones(B, R, dtype=torch.bool),
    }
    as_embed = {**common, "pred_mask_embed": embed, "prompt_mask_embed": prompt_embed, "instance_features": features}
    as_masks = {
        **common,
        "pred_masks": torch.einsum("bqd,bsdhw->bqshw", embed, features),
        "prompt_masks": torch.einsum("bqd,bsdhw->bqshw", prompt_embed, features),
    }
    crit = SetCriterion(LossConfig(num_points=num_points, points_per_instance=3))
    prompt_targets = [torch.tensor([0, 2]), torch.tensor([1, 0])]
    a = crit(as_embed, targets, prompt_targets=prompt_targets, generator=torch.Generator().manual_seed(4))
    b = crit(as_masks, targets, prompt_targets=prompt_targets, generator=torch.Generator().manual_seed(4))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-5, msg=key)
    crit.weighted_sum(a).backward()
    assert embed.grad is not None and torch.isfinite(embed.grad).all()
