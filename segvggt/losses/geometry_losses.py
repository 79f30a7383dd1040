"""VGGT's camera and depth losses (VGGT training/loss.py, default config), in our own code.

loss_camera = L_T + L_R + 0.5 L_FoV: L1 between predicted and target pose encodings
[t(3), q(4), fov_h, fov_w] for each of the n camera-head iterations, stage k weighted
gamma^(n-1-k) (gamma 0.6), averaged over stages; translation errors clamped at 100 per element;
only scenes whose FIRST frame has more than 100 valid points count (VGGT found L1 more stable than
the paper's Huber).

loss_point (when the point head runs) = the same three terms on the camera-0-frame point map
[B, S, H, W, 3] with its confidence, the residual being the point distance (VGGT's "point" loss form).

loss_depth = L_conf + L_reg + L_grad on valid pixels, with r = |D_hat - D|:
L_conf = mean(gamma r c - alpha log c), L_reg = mean(r) (both outlier-filtered: clamp at 100,
keep values below the 98th percentile when more than 1000 elements, and more than 1000 remain),
L_grad = multi-scale (4 scales, stride 2^s) L1 of the x / y finite differences of the masked
residual, each clamped at 100, summed and divided by the valid pixel count, averaged over scales
(not confidence-weighted, VGGT's "grad" variant).
Non-finite values are zeroed and clamped to +-100 where VGGT does it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from segvggt.geometry import depth_to_world_points
from segvggt.losses.config import LossConfig
from segvggt.losses.normalization import GeometryTargets, normalize_targets

# VGGT: a scene supervises the cameras only if its first frame has more than this many valid points.
MIN_VALID_POINTS = 100
# VGGT: the quantile filter is used only above this many elements.
_QUANTILE_MIN_ELEMENTS = 1000
_HARD_MAX = 100.0


def _sanitize(x: Tensor, hard_max: float | None = _HARD_MAX) -> Tensor:
    x = torch.where(torch.isfinite(x), x, torch.zeros_like(x))
    return x if hard_max is None else x.clamp(-hard_max, hard_max)


def valid_scenes(valid: Tensor, min_points: int = MIN_VALID_POINTS) -> Tensor:
    """valid [B, S, H, W] bool -> [B] bool: first frame has more than `min_points` valid pixels."""
    return valid[:, 0].flatten(1).sum(dim=1) > min_points


def camera_loss_from_encoding(
    pose_enc_list: Sequence[Tensor],
    gt_pose_enc: Tensor,
    scene_valid: Tensor,
    *,
    gamma: float = 0.6,
    w_translation: float = 1.0,
    w_rotation: float = 1.0,
    w_fov: float = 0.5,
) -> dict[str, Tensor]:
    """Camera loss against encoded targets.

    Args:
        pose_enc_list: n x [B, S, 9] camera-head iterations (last = final).
        gt_pose_enc: [B, S, 9] target encoding.
        scene_valid: [B] bool, scenes that count.
    Returns:
        loss_camera (weighted combination) and diagnostics camera_T, camera_R, camera_fov.
    """
    n = len(pose_enc_list)
    total = {"camera_T": 0.0, "camera_R": 0.0, "camera_fov": 0.0}
    for k, pred in enumerate(pose_enc_list):
        stage_weight = gamma ** (n - 1 - k)
        if not bool(scene_valid.any()):
            zero = (pred * 0).mean()
            parts = (zero, zero, zero)
        else:
            err = _sanitize((pred[scene_valid].float() - gt_pose_enc[scene_valid].float()).abs())
            parts = (err[..., :3].clamp(max=_HARD_MAX).mean(), err[..., 3:7].mean(), err[..., 7:].mean())
        for key, part in zip(total, parts):
            total[key] = total[key] + stage_weight * part
    out = {key: value / n for key, value in total.items()}
    out["loss_camera"] = (
        w_translation * out["camera_T"] + w_rotation * out["camera_R"] + w_fov * out["camera_fov"]
    )
    return out


def camera_loss(
    pose_enc_list: Sequence[Tensor],
    gt_cam_from_world: Tensor,
    gt_intrinsics: Tensor,
    image_hw: tuple[int, int],
    valid: Tensor,
    *,
    gamma: float = 0.6,
    w_translation: float = 1.0,
    w_rotation: float = 1.0,
    w_fov: float = 0.5,
) -> dict[str, Tensor]:
    """Camera loss against target cameras.

    Args:
        pose_enc_list: n x [B, S, 9] predicted encodings [t, q_xyzw, fov_h, fov_w].
        gt_cam_from_world: [B, S, 3, 4] (normalised: camera 0 = identity).
        gt_intrinsics: [B, S, 3, 3] in pixels of the (H, W) input.
        image_hw: (H, W).
        valid: [B, S, H, W] bool valid target pixels (decides which scenes count).
    Returns:
        loss_camera, camera_T, camera_R, camera_fov.
    """
    from segvggt.backbone import extri_intri_to_pose_encoding  # lazy: backbone is a heavy import

    gt = extri_intri_to_pose_encoding(gt_cam_from_world.float(), gt_intrinsics.float(), image_hw)
    return camera_loss_from_encoding(
        pose_enc_list,
        gt,
        valid_scenes(valid),
        gamma=gamma,
        w_translation=w_translation,
        w_rotation=w_rotation,
        w_fov=w_fov,
    )


def filter_by_quantile(values: Tensor, valid_range: float) -> Tensor:
    """[E] per-element losses -> outlier-filtered [E'] (clamp at 100, keep < quantile if > 1000 remain)."""
    if values.numel() <= _QUANTILE_MIN_ELEMENTS:
        return values
    values = values.clamp(max=_HARD_MAX)
    # "nearest" quantile as the k-th smallest value (torch.quantile has an input size limit). On CUDA a
    # full sort gives the same value far sooner than kthvalue (79 ms per call for 48 views of 518 px on
    # an H200, benchmarks/results/profile_train_step_h200.log); on the CPU kthvalue's selection is faster.
    k = round(valid_range * (values.numel() - 1)) + 1
    detached = values.detach()
    kth = detached.sort().values[k - 1] if detached.is_cuda else detached.kthvalue(k).values
    threshold = min(float(kth), _HARD_MAX)
    keep = values < threshold
    return values[keep] if int(keep.sum()) > _QUANTILE_MIN_ELEMENTS else values


def gradient_loss(residual: Tensor, mask: Tensor) -> Tensor:
    """One scale of the gradient term.

    Args:
        residual: [X, H, W, C] prediction - target.
        mask: [X, H, W] bool valid pixels.
    Returns:
        scalar: sum of clamped |x / y differences of the masked residual| over valid neighbour
        pairs, divided by the number of valid pixels (times C); 0 if none.
    """
    m = mask[..., None].expand_as(residual).float()
    diff = residual * m
    grad_x = ((diff[:, :, 1:] - diff[:, :, :-1]).abs() * m[:, :, 1:] * m[:, :, :-1]).clamp(max=_HARD_MAX)
    grad_y = ((diff[:, 1:] - diff[:, :-1]).abs() * m[:, 1:] * m[:, :-1]).clamp(max=_HARD_MAX)
    divisor = m.sum()
    if divisor == 0:
        return residual.sum() * 0.0
    return (grad_x.sum() + grad_y.sum()) / divisor


def multi_scale_gradient_loss(residual: Tensor, mask: Tensor, scales: int = 4) -> Tensor:
    """[X, H, W, C] residual, [X, H, W] mask -> gradient_loss averaged over strides 1, 2, 4, ..."""
    total = 0.0
    for s in range(scales):
        step = 2**s
        total = total + gradient_loss(residual[:, ::step, ::step], mask[:, ::step, ::step])
    return total / scales


def depth_loss(
    depth: Tensor,
    depth_conf: Tensor,
    gt_depth: Tensor,
    valid_mask: Tensor,
    *,
    gamma: float = 1.0,
    alpha: float = 0.2,
    valid_range: float = 0.98,
    grad_scales: int = 4,
) -> dict[str, Tensor]:
    """Confidence-aware depth loss.

    Args:
        depth: [B, S, H, W, C] prediction: depth (C = 1) or a point map (C = 3).
        depth_conf: [B, S, H, W] confidence (>= 1).
        gt_depth: [B, S, H, W] target depth, or [B, S, H, W, C] target points (normalised scene).
        valid_mask: [B, S, H, W] bool.
    Returns:
        loss_depth = depth_conf + depth_reg + depth_grad (the diagnostics keys).
    """
    pred = depth.float()
    gt = _sanitize(gt_depth.float())
    gt = gt[..., None] if gt.dim() == pred.dim() - 1 else gt
    mask = valid_mask.bool()
    if int(mask.sum()) < MIN_VALID_POINTS:
        zero = (pred * 0).mean()
        return {"loss_depth": zero, "depth_conf": zero, "depth_reg": zero, "depth_grad": zero}
    conf = depth_conf.float()[mask]
    r = _sanitize((gt[mask] - pred[mask]).norm(dim=-1))
    l_conf = _sanitize(gamma * r * conf - alpha * conf.log())
    B, S, H, W, C = pred.shape
    l_grad = multi_scale_gradient_loss(
        (pred - gt).reshape(B * S, H, W, C), mask.reshape(B * S, H, W), scales=grad_scales
    )
    if valid_range > 0:
        l_conf, r = filter_by_quantile(l_conf, valid_range), filter_by_quantile(r, valid_range)
    l_conf, l_reg = _sanitize(l_conf).mean(), _sanitize(r).mean()
    total = l_conf + l_reg + l_grad
    return {"loss_depth": total, "depth_conf": l_conf, "depth_reg": l_reg, "depth_grad": l_grad}


def _dense_loss(prediction: Tensor):
    """`depth_loss`, checkpointed when it backpropagates into `prediction`: its ~20 full-resolution fp32
    intermediates per view are recomputed in the backward pass instead of kept from the forward (same values)."""
    if torch.is_grad_enabled() and prediction.requires_grad:
        return functools.partial(checkpoint, depth_loss, use_reentrant=False)
    return depth_loss


def geometry_losses(
    outputs: Mapping[str, Tensor], targets: GeometryTargets, cfg: LossConfig, normalize: bool = True
) -> dict[str, Tensor]:
    """Camera + depth losses of a model output against GeometryTargets (ground truth or teacher).

    Args:
        outputs: `pose_enc_list` n x [B, S, 9], `depth` [B, S, H, W, 1], `depth_conf` [B, S, H, W],
            `world_points` [B, S, H, W, 3], `world_points_conf` [B, S, H, W]; a head that is switched
            off (key absent) contributes no loss.
        targets: GeometryTargets, raw (normalised here when `normalize`).
        cfg: LossConfig (stage gamma, component weights, depth gamma / alpha / quantile / scales).
    Returns:
        loss_camera, loss_depth, loss_point (weighted by weighted_sum) and their diagnostics.
    """
    losses: dict[str, Tensor] = {}
    with torch.autocast(device_type=targets.depth.device.type, enabled=False):
        if normalize:
            targets = normalize_targets(targets)
        if "pose_enc_list" in outputs:
            losses.update(
                camera_loss(
                    outputs["pose_enc_list"],
                    targets.cam_from_world,
                    targets.intrinsics,
                    tuple(targets.depth.shape[-2:]),
                    targets.valid,
                    gamma=cfg.camera_gamma,
                    w_translation=cfg.camera_w_translation,
                    w_rotation=cfg.camera_w_rotation,
                    w_fov=cfg.camera_w_fov,
                )
            )
        if "depth" in outputs:
            losses.update(
                _dense_loss(outputs["depth"])(
                    outputs["depth"],
                    outputs["depth_conf"],
                    targets.depth,
                    targets.valid,
                    gamma=cfg.depth_gamma,
                    alpha=cfg.depth_alpha,
                    valid_range=cfg.depth_valid_range,
                    grad_scales=cfg.depth_grad_scales,
                )
            )
        if "world_points" in outputs:
            # Normalised targets have camera 0 = [I | 0], so unprojecting them gives camera-0-frame points.
            points = depth_to_world_points(targets.depth, targets.cam_from_world, targets.intrinsics)
            points = torch.where(targets.valid[..., None], points, 0)
            parts = _dense_loss(outputs["world_points"])(
                outputs["world_points"], outputs["world_points_conf"], points, targets.valid,
                gamma=cfg.depth_gamma, alpha=cfg.depth_alpha, valid_range=cfg.depth_valid_range,
                grad_scales=cfg.depth_grad_scales,
            )  # fmt: skip
            losses.update({key.replace("depth", "point"): value for key, value in parts.items()})
    return losses
