"""How much each term weighs in a matching cost or a loss: the measurement behind the FADA ablation.

Hungarian matching picks, for every ground-truth instance (a column of the [Q, N] cost), the query
that minimises the weighted sum of the cost terms (class, BCE, dice, FADA ...). A term that is large
but constant over the queries changes no decision, so two shares are reported for a cost:
- magnitude: mean |w_k C_k| over all entries, as a fraction of the sum over terms;
- spread: the standard deviation of w_k C_k over the queries of each column (what can flip a
  match), averaged over columns, as a fraction of the sum over terms.
For a loss dict the share of term k is |w_k L_k| / sum_j |w_j L_j| over the `loss_*` keys.
Pure functions on tensors; no criterion state, so a training loop can log them per step.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from segvggt.losses.config import aux_base_key


def _fractions(values: Mapping[str, float]) -> dict[str, float]:
    total = sum(values.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in values.items()}


def cost_term_shares(
    costs: Mapping[str, Tensor], weights: Mapping[str, float] | None = None
) -> dict[str, dict[str, float]]:
    """costs: {term: [Q, N] unweighted cost matrix}; weights: {term: w} (missing = 1).

    Returns {"magnitude": {term: share}, "spread": {term: share}}, each summing to 1 (all 0 when
    every term is 0). N = 0 gives zeros.
    """
    weights = weights or {}
    shapes = {tuple(c.shape) for c in costs.values()}
    if len(shapes) > 1 or any(len(s) != 2 for s in shapes):
        raise ValueError(f"cost_term_shares: every cost must be one [Q, N] matrix, got shapes {sorted(shapes)}")
    magnitude, spread = {}, {}
    for term, cost in costs.items():
        weighted = float(weights.get(term, 1.0)) * cost.detach().double()
        empty = weighted.numel() == 0
        magnitude[term] = 0.0 if empty else float(weighted.abs().mean())
        spread[term] = 0.0 if empty or cost.shape[0] < 2 else float(weighted.std(dim=0, unbiased=False).mean())
    return {"magnitude": _fractions(magnitude), "spread": _fractions(spread)}


def loss_term_shares(losses: Mapping[str, Tensor], weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """losses: named scalar losses (only `loss_*` keys count); weights: {key: w} (missing = 1).

    Returns {key: |w L| / sum |w L|}.
    """
    weights = weights or {}
    values = {  # an auxiliary loss (deep supervision) counts with its final loss's weight
        k: abs(float(weights.get(aux_base_key(k), 1.0)) * float(v.detach()))
        for k, v in losses.items()
        if k.startswith("loss_")
    }
    return _fractions(values)


def term_share_logs(
    cost_shares: list[Mapping[str, Mapping[str, float]]], losses: Mapping[str, Tensor], loss_weights: Mapping[str, float]
) -> dict[str, float]:
    """What training logs each step: flat {name: share} for the logger.

    cost_shares: one `cost_term_shares` result per matched scene, averaged here (no entry when the
    batch had no instances); losses: the unweighted named losses; loss_weights: LossConfig.loss_weights().
    Keys: `share/cost_magnitude_<term>`, `share/cost_spread_<term>` (term: class, bce, dice, fada)
    and `share/<loss key>` (e.g. share/loss_fada).
    """
    logs: dict[str, float] = {}
    for kind in ("magnitude", "spread"):
        terms = sorted({t for scene in cost_shares for t in scene[kind]})
        for term in terms:
            values = [scene[kind].get(term, 0.0) for scene in cost_shares]
            logs[f"share/cost_{kind}_{term}"] = sum(values) / len(values)
    for key, share in loss_term_shares(losses, loss_weights).items():
        logs[f"share/{key}"] = share
    return logs
