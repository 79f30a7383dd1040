"""FADA: frame-attention distribution alignment.

A query's attention mass per frame (how much of its cross-attention falls on each view, a
distribution over S) should match where its instance is visible (the instance's share of visible
pixels per view, also a distribution over S). The distance is the Jensen-Shannon divergence,
natural log, so it lies in [0, ln 2].

Definition used everywhere (matching cost AND loss, so the two agree):
    FADA(query, instance) = mean over the L query layers of JS(mass_l, visibility) / S
where JS is summed over the S frames. Dividing by S (`frame_normalization=True`) is one reading of
the paper's "normalised by frames"; without it the term stays in [0, ln 2] whatever S is. The
training default (LossConfig.fada_frame_normalization = False) does not divide: measured in
docs/fada_ablation.md, divided by S the term is too small to move the matching or the attention.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Below any probability we care about, above float32's smallest normal; keeps log finite at 0.
_EPS = 1e-12


def js_divergence(p: Tensor, q: Tensor) -> Tensor:
    """Jensen-Shannon divergence (natural log) of distributions over the last axis.

    Args:
        p: [..., S] non-negative, sums to 1 over S.
        q: [..., S] same (broadcastable with p).
    Returns:
        [...] JS(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2, summed over S.
        Identical distributions give 0, disjoint supports give ln 2. Zeros are safe (0 log 0 = 0,
        finite gradients).
    """
    p, q = torch.broadcast_tensors(p.float(), q.float())
    m = 0.5 * (p + q)
    log_m = m.clamp_min(_EPS).log()
    kl_pm = p * (p.clamp_min(_EPS).log() - log_m)
    kl_qm = q * (q.clamp_min(_EPS).log() - log_m)
    return 0.5 * (kl_pm + kl_qm).sum(dim=-1)


def _normalise(js: Tensor, num_frames: int, frame_normalization: bool) -> Tensor:
    return js / num_frames if frame_normalization else js


def fada_cost(frame_attention_mass: Tensor, visibility: Tensor, frame_normalization: bool = True) -> Tensor:
    """Pairwise FADA cost between every query and every instance of one scene.

    Args:
        frame_attention_mass: [L, Q, S] per query layer, attention mass per frame (rows sum to 1).
        visibility: [N, S] instance's visible-pixel share per frame (rows sum to 1).
    Returns:
        [Q, N] JS(mass_l[q], visibility[n]) averaged over L (and divided by S, see module doc).
    """
    if frame_attention_mass.shape[-1] != visibility.shape[-1]:
        raise ValueError(
            f"fada_cost: frame_attention_mass has S={frame_attention_mass.shape[-1]} frames but "
            f"visibility has S={visibility.shape[-1]}; both must cover the same views"
        )
    js = js_divergence(frame_attention_mass[:, :, None, :], visibility[None, None, :, :])  # [L, Q, N]
    return _normalise(js.mean(dim=0), visibility.shape[-1], frame_normalization)


def fada_loss(frame_attention_mass: Tensor, visibility: Tensor, frame_normalization: bool = True) -> Tensor:
    """FADA of matched (query, instance) pairs.

    Args:
        frame_attention_mass: [L, M, S] mass of the M matched queries.
        visibility: [M, S] visibility of their matched instances.
    Returns:
        [M] JS averaged over L (and divided by S); the criterion sums and divides by num_masks.
    """
    js = js_divergence(frame_attention_mass, visibility[None])  # [L, M]
    return _normalise(js.mean(dim=0), visibility.shape[-1], frame_normalization)
