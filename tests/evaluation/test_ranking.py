"""Per-query vs top-k (query, class) pair ranking: known answers, and the AP it changes."""

import math

import numpy as np
import pytest
import torch

from segvggt.data.classes import benchmark_classes
from segvggt.evaluation.instance_ap import evaluate_instances
from segvggt.evaluation.overlaps import SceneEval
from segvggt.evaluation.ranking import mask_scores, rank_predictions


def _logits(probs):
    return torch.log(torch.tensor(probs))


def test_mask_scores_mean_sigmoid_over_on_pixels():
    masks = torch.tensor([[[[2.0, -1.0], [0.0, 1.0]]], [[[-3.0, -1.0], [-2.0, -4.0]]]])  # [Q=2, S=1, 2, 2]
    sig = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731
    q = mask_scores(masks)
    assert q[0].item() == pytest.approx((sig(2.0) + sig(1.0)) / 2, rel=1e-5)
    assert q[1].item() == 0.0  # no pixel on


def test_per_query_known_answer():
    logits = _logits([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])  # [Q=2, K+1=3]
    quality = torch.tensor([0.5, 1.0])
    q, c, s = rank_predictions(logits, quality, "per_query")
    assert q.tolist() == [0, 1] and c.tolist() == [0, 1]
    assert s.tolist() == pytest.approx([0.3, 0.2])


def test_topk_pairs_known_answer():
    logits = _logits([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
    quality = torch.tensor([0.5, 1.0])
    # k = Q = 2: the two largest class probabilities are both query 0's (0.6, 0.3); query 1 drops out
    q, c, s = rank_predictions(logits, quality, "topk_pairs")
    assert q.tolist() == [0, 0] and c.tolist() == [0, 1]
    assert s.tolist() == pytest.approx([0.3, 0.15])
    # k = 4: every pair, ordered by class probability x mask score
    q, c, s = rank_predictions(logits, quality, "topk_pairs", top_k=4)
    assert list(zip(q.tolist(), c.tolist())) == [(0, 0), (1, 1), (0, 1), (1, 0)]
    assert s.tolist() == pytest.approx([0.3, 0.2, 0.15, 0.1])
    # k larger than Q x K is capped
    assert rank_predictions(logits, quality, "topk_pairs", top_k=99)[0].numel() == 4
    with pytest.raises(ValueError, match="unknown ranking"):
        rank_predictions(logits, quality, "best")


def test_topk_pairs_recover_a_second_choice_class_in_ap():
    """Two objects; the query of object B ranks the wrong class first. Per query, class 'chair' has
    no prediction (AP 0); the pair ranking also lists B as 'chair' and every class reaches AP 1."""
    classes = benchmark_classes("synthetic")
    table, chair = 3, 4  # synthetic label ids
    gt = np.concatenate([np.full(150, table * 1000 + 1), np.full(150, chair * 1000 + 2)])
    masks = np.zeros((2, 300), bool)
    masks[0, :150] = True
    masks[1, 150:] = True
    probs = torch.full((2, classes.num_classes + 1), 1e-3)
    t, ch = classes.index_of(np.array([table, chair]))
    probs[0, t] = 0.9
    probs[1, t], probs[1, ch] = 0.5, 0.4  # argmax says table
    logits = torch.log(probs / probs.sum(1, keepdim=True))
    quality = torch.ones(2)

    def ap(ranking, k):
        q, c, s = rank_predictions(logits, quality, ranking, top_k=k)
        scene = SceneEval(gt, masks[q.numpy()], classes.label_of(c.numpy()), s.numpy())
        return evaluate_instances([scene], classes).ap

    assert ap("per_query", 0) == pytest.approx(0.5)  # table 1.0, chair 0.0
    assert ap("topk_pairs", 4) == pytest.approx(1.0)  # the extra pairs rank below each class's TP
