"""Similarity (Sim(3)) alignment of a predicted reconstruction to the ground-truth frame.

The network predicts cameras and depth in its own frame (first camera = identity, arbitrary
scale). The benchmark points live in the ground-truth (mesh) frame, so lifting with predicted
geometry first maps the prediction into that frame with one similarity transform
`x_gt = s R x_pred + t`, estimated from camera centres (Umeyama 1991, least squares).

Transforming a camera: with x_pred = R^T (x_gt - t) / s and the predicted camera
x_cam = R_c x_pred + t_c, the metric camera coordinates s x_cam are
`R_c R^T x_gt + (s t_c - R_c R^T t)`; depth scales by s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor

from segvggt.geometry import invert_extrinsics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sim3:
    """x_target = scale * rotation @ x_source + translation."""

    scale: Tensor  # [] scalar
    rotation: Tensor  # [3, 3]
    translation: Tensor  # [3]

    def apply(self, points: Tensor) -> Tensor:
        """points [..., M, 3] -> [..., M, 3]."""
        return self.scale * points @ self.rotation.T + self.translation


def umeyama_sim3(source: Tensor, target: Tensor, with_scale: bool = True) -> Sim3:
    """Least-squares similarity transform mapping `source` onto `target` (Umeyama 1991).

    Args:
        source: [M, 3] points (M >= 3, not all collinear for a unique rotation).
        target: [M, 3] corresponding points.
        with_scale: estimate the scale (Sim(3)); False gives a rigid SE(3) fit (scale 1).
    Returns:
        Sim3 with target ~= scale * R @ source + t, computed in float64 and returned in the
        dtype of `source`.
    """
    if source.shape != target.shape or source.ndim != 2 or source.shape[-1] != 3:
        raise ValueError(
            f"umeyama_sim3 needs two [M, 3] point sets, got {tuple(source.shape)}, {tuple(target.shape)}"
        )
    if source.shape[0] < 2:
        raise ValueError("umeyama_sim3 needs at least 2 point pairs")
    x, y = source.double(), target.double()
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    cov = yc.T @ xc / x.shape[0]  # [3, 3] target x source
    U, D, Vt = torch.linalg.svd(cov)
    sign = torch.ones(3, dtype=x.dtype, device=x.device)
    if torch.det(U) * torch.det(Vt) < 0:  # keep a proper rotation (no reflection)
        sign[-1] = -1.0
    R = U @ torch.diag(sign) @ Vt
    var_x = (xc**2).sum() / x.shape[0]
    scale = torch.ones((), dtype=x.dtype, device=x.device)
    if with_scale and var_x > 0:
        scale = (D * sign).sum() / var_x
    t = my - scale * R @ mx
    dt = source.dtype
    return Sim3(scale.to(dt), R.to(dt), t.to(dt))


def camera_centres(cam_from_world: Tensor) -> Tensor:
    """[..., 3, 4] cam_from_world -> [..., 3] camera centres in world coordinates (-R^T t)."""
    return invert_extrinsics(cam_from_world)[..., 3]


def transform_cameras(cam_from_world: Tensor, sim3: Sim3) -> Tensor:
    """Express cameras [S, 3, 4] given in the source frame in the target frame of `sim3`.

    The result maps target-frame points to *metric* camera coordinates (scaled by s), so depth
    predicted in the source frame must be multiplied by `sim3.scale` to match it.
    """
    R_c, t_c = cam_from_world[..., :3], cam_from_world[..., 3]
    R = sim3.rotation.to(cam_from_world.dtype)
    s = sim3.scale.to(cam_from_world.dtype)
    new_R = R_c @ R.T
    new_t = s * t_c - new_R @ sim3.translation.to(cam_from_world.dtype)
    return torch.cat([new_R, new_t[..., None]], dim=-1)


def _rotation_average_sim3(pred_cam_from_world: Tensor, gt_cam_from_world: Tensor, scale: Tensor) -> Sim3:
    """Fallback when camera centres do not fix a rotation (< 3 views or collinear centres):
    rotation = chordal mean of per-camera world rotations, translation from the centres."""
    R_pred, R_gt = pred_cam_from_world[..., :3].double(), gt_cam_from_world[..., :3].double()
    # world_from_cam_gt ~ R @ world_from_cam_pred  ->  R ~ R_gt^T R_pred for every view
    summed = (R_gt.transpose(-1, -2) @ R_pred).sum(0)
    U, _, Vt = torch.linalg.svd(summed)
    sign = torch.ones(3, dtype=U.dtype, device=U.device)
    if torch.det(U @ Vt) < 0:
        sign[-1] = -1.0
    R = U @ torch.diag(sign) @ Vt
    c_pred, c_gt = camera_centres(pred_cam_from_world).double(), camera_centres(gt_cam_from_world).double()
    t = (c_gt - scale.double() * c_pred @ R.T).mean(0)
    dt = pred_cam_from_world.dtype
    return Sim3(scale.to(dt), R.to(dt), t.to(dt))


def align_predicted_cameras(
    pred_cam_from_world: Tensor,
    pred_depth: Tensor,
    gt_cam_from_world: Tensor,
    gt_depth: Tensor | None = None,
    min_spread: float = 1e-3,
) -> tuple[Tensor, Tensor, Sim3]:
    """Put predicted cameras and depth in the ground-truth frame with one Sim(3).

    Primary mode: Umeyama on camera centres (scale, rotation, translation). When the GT centres
    are degenerate (fewer than 3 views, or their spread's second singular value is below
    `min_spread` metres, i.e. collinear or a pure rotation), the rotation comes from averaging
    camera orientations instead, and the scale from the centre spread if there is one, else
    from the median depth ratio (needs `gt_depth`), else 1.

    Args:
        pred_cam_from_world: [S, 3, 4] predicted extrinsics (network frame).
        pred_depth: [S, H, W] predicted depth (network scale), 0 = invalid.
        gt_cam_from_world: [S, 3, 4] ground-truth extrinsics (benchmark frame).
        gt_depth: optional [S, H, W] sensor depth, only used for the scale fallback.
    Returns:
        (aligned cam_from_world [S, 3, 4], scaled depth [S, H, W], the Sim3 pred -> gt).
    """
    S = pred_cam_from_world.shape[0]
    if gt_cam_from_world.shape != pred_cam_from_world.shape or pred_cam_from_world.shape[-2:] != (3, 4):
        raise ValueError(
            f"align_predicted_cameras needs [S, 3, 4] extrinsics of equal shape, got "
            f"{tuple(pred_cam_from_world.shape)} and {tuple(gt_cam_from_world.shape)}"
        )
    c_pred, c_gt = camera_centres(pred_cam_from_world), camera_centres(gt_cam_from_world)
    spread_gt = torch.linalg.svdvals((c_gt - c_gt.mean(0)).double()) / max(S, 1) ** 0.5
    if S >= 3 and spread_gt[1] > min_spread:
        sim3 = umeyama_sim3(c_pred, c_gt)
    else:
        spread_pred = ((c_pred - c_pred.mean(0)).double() ** 2).sum().sqrt()
        spread_true = ((c_gt - c_gt.mean(0)).double() ** 2).sum().sqrt()
        if spread_true > min_spread and spread_pred > 0:
            scale = spread_true / spread_pred
        elif gt_depth is not None:
            ok = (gt_depth > 0) & (pred_depth > 0)
            scale = (gt_depth[ok].double() / pred_depth[ok].double()).median() if ok.any() else torch.ones(())
        else:
            scale = torch.ones(())
        logger.debug("degenerate camera centres (S=%d); aligning by rotation averaging", S)
        scale = scale.to(pred_cam_from_world.device)
        sim3 = _rotation_average_sim3(pred_cam_from_world, gt_cam_from_world, scale)
    aligned = transform_cameras(pred_cam_from_world, sim3)
    return aligned, pred_depth * sim3.scale.to(pred_depth.dtype), sim3
