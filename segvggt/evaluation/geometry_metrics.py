"""Geometry metrics: depth Abs Rel / delta<1.25 and relative camera pose AUC@30.

Depth (per sequence): one global scale for the whole sequence, s = median over every valid pixel
of all views of gt / pred (the median of the per-pixel ratios). A pixel is valid where the GT is
> 0 and finite and the prediction is > 0 and finite. Then, over the same pixels,
    Abs Rel = mean |s pred - gt| / gt,   delta1 = fraction with max(s pred / gt, gt / (s pred)) < 1.25.

Pose (per sequence, the errors and AUC of VGGT's / PoseDiffusion's Co3D evaluation): for every
frame pair i < j the relative poses T_i T_j^-1 (cam_i_from_cam_j) of prediction and GT are compared;
    rotation error    = geodesic angle of R_gt^T R_pred in degrees,
    translation error = angle between the relative translation directions in degrees, with the
                        sign ambiguity removed (min(e, 180 - e), i.e. within [0, 90]); a pair
                        whose translation has zero length gets 90 degrees,
    pair error        = max(rotation error, translation error).
AUC@T = mean over k = 1..T of the fraction of pairs with error < k degrees, which is exactly
`mean(cumsum(histogram(errors, bins=[0, 1, ..., T]) / num_pairs))` (numpy's last bin is closed,
so an error of exactly T counts for k = T). Relative poses make the metric independent of the
world frame and of the global scale, so no alignment is needed. (VGGT's test_co3d.py composes
inv(T_i) T_j instead, after moving the GT to camera 0's frame; with both sequences in camera 0's
frame the rotation errors of a single perturbed camera agree, but that composition depends on
the world frame, so it is not used here.)

Baselines (`pose_baselines`): the AUC of trivial guesses on the same GT, reported beside a model's
number: "identity" (every camera at the first: every relative translation is zero, so every pair
gets the 90-degree translation error and AUC@30 is 0) and "constant_translation" (a camera that
never turns and slides sideways by equal steps).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from segvggt.evaluation.alignment import Sim3, umeyama_sim3
from segvggt.geometry import invert_extrinsics

__all__ = [
    "depth_metrics", "relative_pose_errors", "pose_auc", "pose_metrics", "pose_baselines", "identity_poses",
    "constant_translation_poses", "umeyama_sim3", "Sim3",
]  # fmt: skip


def depth_metrics(pred_depth: Tensor, gt_depth: Tensor, valid: Tensor | None = None) -> dict[str, float]:
    """Abs Rel and delta<1.25 after one median scale per sequence.

    Args:
        pred_depth: [S, H, W] predicted depth (any scale).
        gt_depth: [S, H, W] ground-truth depth in metres, 0 = invalid.
        valid: optional [S, H, W] bool, further restricts the evaluated pixels.
    Returns:
        {"abs_rel", "delta1", "scale", "num_pixels"}; NaN metrics when no pixel is valid.
    """
    if pred_depth.shape != gt_depth.shape:
        raise ValueError(
            f"depth_metrics: prediction {tuple(pred_depth.shape)} and GT {tuple(gt_depth.shape)} differ"
        )
    pred, gt = pred_depth.double(), gt_depth.double()
    ok = (gt > 0) & torch.isfinite(gt) & (pred > 0) & torch.isfinite(pred)
    if valid is not None:
        ok &= valid.bool()
    n = int(ok.sum())
    if n == 0:
        return {"abs_rel": math.nan, "delta1": math.nan, "scale": math.nan, "num_pixels": 0}
    p, g = pred[ok], gt[ok]
    scale = (g / p).median()
    p = p * scale
    abs_rel = ((p - g).abs() / g).mean()
    delta1 = (torch.maximum(p / g, g / p) < 1.25).double().mean()
    return {"abs_rel": float(abs_rel), "delta1": float(delta1), "scale": float(scale), "num_pixels": n}


def _to_4x4(cam_from_world: Tensor) -> Tensor:
    bottom = torch.zeros_like(cam_from_world[..., :1, :])
    bottom[..., 0, 3] = 1.0
    return torch.cat([cam_from_world, bottom], dim=-2)


def relative_pose_errors(pred_cam_from_world: Tensor, gt_cam_from_world: Tensor) -> tuple[Tensor, Tensor]:
    """Angular errors of the relative poses of every frame pair i < j.

    Args:
        pred_cam_from_world: [S, 3, 4] predicted extrinsics.
        gt_cam_from_world: [S, 3, 4] ground-truth extrinsics.
    Returns:
        (rotation_error [S(S-1)/2], translation_error [S(S-1)/2]) in degrees, float64, pairs in
        `torch.triu_indices(S, S, 1)` order.
    """
    if pred_cam_from_world.shape != gt_cam_from_world.shape or pred_cam_from_world.shape[-2:] != (3, 4):
        raise ValueError(
            f"relative_pose_errors needs [S, 3, 4] extrinsics of equal shape, got "
            f"{tuple(pred_cam_from_world.shape)} and {tuple(gt_cam_from_world.shape)}"
        )
    S = pred_cam_from_world.shape[0]
    i, j = torch.triu_indices(S, S, 1, device=pred_cam_from_world.device)

    def relative(cams: Tensor) -> Tensor:
        T = _to_4x4(cams.double())
        return T[i] @ _to_4x4(invert_extrinsics(cams.double()))[j]

    rel_pred, rel_gt = relative(pred_cam_from_world), relative(gt_cam_from_world)
    R_err = rel_gt[:, :3, :3].transpose(-1, -2) @ rel_pred[:, :3, :3]
    cos_r = ((R_err.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0).clamp(-1.0, 1.0)
    rot = torch.rad2deg(torch.acos(cos_r))
    t_pred, t_gt = rel_pred[:, :3, 3], rel_gt[:, :3, 3]
    norms = t_pred.norm(dim=-1) * t_gt.norm(dim=-1)
    cos_t = ((t_pred * t_gt).sum(-1) / norms.clamp_min(1e-300)).abs().clamp(0.0, 1.0)
    trans = torch.rad2deg(torch.acos(cos_t))
    trans = torch.where(norms > 0, trans, torch.full_like(trans, 90.0))
    return rot, trans


def pose_auc(rotation_error: Tensor, translation_error: Tensor, max_threshold: int = 30) -> float:
    """AUC of the accuracy curve of max(rotation, translation) error up to `max_threshold` degrees.

    Args:
        rotation_error: [P] degrees; translation_error: [P] degrees.
    Returns:
        mean over k = 1..max_threshold of the fraction of pairs with error < k (1-degree bins).
    """
    errors = torch.maximum(rotation_error.double(), translation_error.double())
    if errors.numel() == 0:
        return math.nan
    errors = torch.nan_to_num(errors, nan=math.inf)
    edges = torch.arange(1, max_threshold + 1, dtype=errors.dtype, device=errors.device)
    below = (errors[None, :] < edges[:, None]).double().mean(1)  # [T] accuracy at each threshold
    below[-1] = (errors <= max_threshold).double().mean()  # numpy's last histogram bin is closed
    return float(below.mean())


def pose_metrics(
    pred_cam_from_world: Tensor, gt_cam_from_world: Tensor, thresholds: tuple[int, ...] = (30,)
) -> dict[str, float]:
    """{"auc@T": ..., "rra@T": ..., "rta@T": ...} of one sequence ([S, 3, 4] extrinsics each);
    RRA/RTA = fraction of pairs with rotation / translation error below T degrees."""
    rot, trans = relative_pose_errors(pred_cam_from_world, gt_cam_from_world)
    out: dict[str, float] = {}
    for t in thresholds:
        out[f"auc@{t}"] = pose_auc(rot, trans, t)
        out[f"rra@{t}"] = float((rot < t).double().mean()) if rot.numel() else math.nan
        out[f"rta@{t}"] = float((trans < t).double().mean()) if trans.numel() else math.nan
    return out


def identity_poses(num_frames: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """[S, 3, 4] extrinsics of the "nothing moved" guess: every camera is the first, [I | 0].

    Every relative translation is zero, so every pair gets the 90-degree translation error and
    AUC@T is exactly 0 for T < 90, whatever the scene.
    """
    eye = torch.eye(3, 4, dtype=dtype)
    return eye.expand(num_frames, 3, 4).clone()


def constant_translation_poses(
    num_frames: int, step: tuple[float, float, float] = (1.0, 0.0, 0.0), dtype: torch.dtype = torch.float64
) -> Tensor:
    """[S, 3, 4] extrinsics of a camera that never turns and moves by the same `step` between
    consecutive frames (a straight dolly, sideways by default): R_i = I, centre c_i = i * step,
    so t_i = -c_i. Every pair's relative translation then points along `step` in both cameras."""
    cams = identity_poses(num_frames, dtype)
    d = torch.tensor(step, dtype=dtype)
    cams[:, :, 3] = -torch.arange(num_frames, dtype=dtype)[:, None] * d
    return cams


def pose_baselines(gt_cam_from_world: Tensor, max_threshold: int = 30) -> dict[str, float]:
    """AUC@T of the trivial guesses on one sequence ([S, 3, 4] GT extrinsics): "identity"
    (`identity_poses`) and "constant_translation" (`constant_translation_poses`, sideways). A model
    that scores below them has learnt nothing about the cameras."""
    S = gt_cam_from_world.shape[0]
    gt = gt_cam_from_world.double()
    out = {}
    for name, guess in (("identity", identity_poses(S)), ("constant_translation", constant_translation_poses(S))):
        out[name] = pose_auc(*relative_pose_errors(guess.to(gt.device), gt), max_threshold)
    return out
