"""Which (mask, label, score) predictions a scene submits: one per query, or the top-k (query, class) pairs.

Two rankings (`EvalConfig.ranking`):
- "per_query" (Mask2Former's semantic-instance inference): every query is one prediction with its
  argmax class (no object excluded); score = that class probability x the query's mask score.
- "topk_pairs" (Mask3D `get_mask_and_scores`, OneFormer3D `pred_inst`): the Q x K class
  probabilities (softmax, no object dropped) are flattened and the k largest (query, class) pairs are
  kept, wherever they come from; each pair's score = its class probability x the query's mask score.
  A query may appear with several labels, and a query with only weak classes may not appear at all.
  Long-tail classes gain: a mask whose second-best class is right still gets a ranked prediction of
  that class (the ScanNet AP is computed per class, so the duplicate costs nothing elsewhere).

Mask score (both rankings, Mask3D's `mask_scores_per_image`): mean sigmoid over the query's pixels
whose logit > 0 (all views), 0 when it has none. k = `top_k` predictions per scene, 0 = the number of
queries (Mask3D's default `topk_per_image = num_queries`).
"""

from __future__ import annotations

import torch
from torch import Tensor

RANKINGS = ("per_query", "topk_pairs")


def mask_scores(pred_masks: Tensor) -> Tensor:
    """pred_masks [Q, S, h, w] mask logits -> [Q] mean sigmoid over the pixels with logit > 0 (0 if none).

    Frames are visited in chunks so the temporaries stay at Q x chunk x h x w.
    """
    from segvggt.inference.postprocess import frame_chunks

    Q, S = pred_masks.shape[:2]
    inside = torch.zeros(Q, device=pred_masks.device)
    count = torch.zeros(Q, device=pred_masks.device)
    for s0, s1 in frame_chunks(S, Q * pred_masks.shape[-2] * pred_masks.shape[-1]):
        logits = pred_masks[:, s0:s1].float().flatten(1)
        on = logits > 0
        inside += logits.sigmoid().mul_(on).sum(1)
        count += on.sum(1)
    return inside / (count + 1e-6)


def rank_predictions(
    pred_logits: Tensor, quality: Tensor, ranking: str = "per_query", top_k: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """Predictions of one scene, best first.

    Args:
        pred_logits: [Q, K+1] class logits (last = no object).
        quality: [Q] mask score of each query in [0, 1] (`mask_scores`).
        ranking: "per_query" or "topk_pairs" (module docstring).
        top_k: predictions kept (0 = Q).
    Returns:
        query [N] int64, class index [N] int64 in [0, K), score [N] float, sorted by descending score
        (ties keep query order, then class order); N = min(top_k or Q, Q) for "per_query",
        min(top_k or Q, Q * K) for "topk_pairs".
    """
    if ranking not in RANKINGS:
        raise ValueError(f"unknown ranking {ranking!r}; choose one of {', '.join(RANKINGS)}")
    Q, K1 = pred_logits.shape
    if quality.shape != (Q,):
        raise ValueError(f"rank_predictions: {Q} queries but mask scores of shape {tuple(quality.shape)}")
    probs = pred_logits.float().softmax(-1)[:, :-1]  # [Q, K]
    K = K1 - 1
    k = top_k if top_k > 0 else Q
    if ranking == "per_query":
        class_prob, labels = probs.max(-1)
        queries = torch.arange(Q, device=pred_logits.device)
    else:
        # Mask3D / OneFormer3D: choose the k pairs by class probability alone, then weight by mask score
        flat = probs.flatten()
        order = torch.argsort(flat, descending=True, stable=True)[: min(k, Q * K)]
        class_prob, queries, labels = flat[order], order // K, order % K
    scores = class_prob * quality.float().to(class_prob.device)[queries]
    order = torch.argsort(scores, descending=True, stable=True)[:k]
    return queries[order].long(), labels[order].long(), scores[order]
