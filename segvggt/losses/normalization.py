"""Geometry targets and VGGT's scene normalisation.

Both supervision modes end up as one `GeometryTargets` (cam_from_world, intrinsics, depth, valid):
ground truth of a SceneBatch (synthetic data) or a frozen teacher's outputs (distillation), so a
single camera / depth loss serves both.

Scene normalisation (VGGT training, applied to the targets of every batch): camera 0 becomes the
identity, E'_i = E_i inv(E_0); points move to camera 0's frame, p' = R_0 p + t_0; the scale is the
mean distance of the valid points to camera 0, s = sum_valid |p'| / (N_valid + 1e-3), clamped to
[1e-6, 1e6]; translations, depths and points are divided by s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import Tensor

from segvggt.geometry import depth_to_world_points, invert_extrinsics, world_to_cam
from segvggt.types import SceneBatch


class GeometryTargets(NamedTuple):
    """Targets of the camera and depth losses.

    cam_from_world: [B, S, 3, 4]; intrinsics: [B, S, 3, 3] in input pixels;
    depth: [B, S, H, W] (0 = invalid); valid: [B, S, H, W] bool.
    """

    cam_from_world: Tensor
    intrinsics: Tensor
    depth: Tensor
    valid: Tensor


class NormalizedScene(NamedTuple):
    """cam_from_world [B, S, 3, 4], depth [B, S, H, W], world_points [B, S, H, W, 3] (camera-0 frame,
    0 where invalid), scale [B] (the divisor that was applied)."""

    cam_from_world: Tensor
    depth: Tensor
    world_points: Tensor
    scale: Tensor


def _valid_depth(depth: Tensor, valid: Tensor | None) -> Tensor:
    ok = torch.isfinite(depth) & (depth > 0)
    return ok if valid is None else ok & valid.bool()


def ground_truth_targets(batch: SceneBatch) -> GeometryTargets:
    """GeometryTargets of a SceneBatch: its cameras and depth, valid where depth > 0 and finite."""
    depth = batch.depth.float()
    valid = _valid_depth(depth, None)
    depth = torch.where(valid, depth, 0)
    return GeometryTargets(batch.cam_from_world.float(), batch.intrinsics.float(), depth, valid)


def teacher_targets(
    teacher_out: Mapping[str, Tensor], image_hw: tuple[int, int], min_conf: float | None = None
) -> GeometryTargets:
    """GeometryTargets from a frozen VGGT's output dict (no gradients).

    Args:
        teacher_out: `pose_enc` [B, S, 9], `depth` [B, S, H, W, 1], optionally `depth_conf` [B, S, H, W].
        image_hw: (H, W) of the input images (fixes the intrinsics decoded from the FoV).
        min_conf: optionally keep only pixels whose depth_conf exceeds it (depth_conf >= 1 always).
    Returns:
        GeometryTargets with cameras decoded by pose_encoding_to_extri_intri.
    """
    from segvggt.backbone import pose_encoding_to_extri_intri  # lazy: backbone is a heavy import

    with torch.no_grad():
        pose_enc = teacher_out["pose_enc"].detach().float()
        cam_from_world, intrinsics = pose_encoding_to_extri_intri(pose_enc, image_hw)
        depth = teacher_out["depth"].detach().float()[..., 0]
        valid = _valid_depth(depth, None)
        if min_conf is not None:
            if "depth_conf" not in teacher_out:
                raise ValueError("teacher_targets: min_conf needs 'depth_conf' in the teacher output")
            valid = valid & (teacher_out["depth_conf"].detach() > min_conf)
        depth = torch.where(valid, depth, 0)
        return GeometryTargets(cam_from_world.float(), intrinsics.float(), depth, valid)


def _to_homogeneous(cam_from_world: Tensor) -> Tensor:
    bottom = torch.zeros_like(cam_from_world[..., :1, :])
    bottom[..., 0, 3] = 1
    return torch.cat([cam_from_world, bottom], dim=-2)


def normalize_scene(
    cam_from_world: Tensor, intrinsics: Tensor, depth: Tensor, valid: Tensor | None = None
) -> NormalizedScene:
    """Express a scene in camera 0's frame at unit mean point distance.

    Args:
        cam_from_world: [B, S, 3, 4]
        intrinsics: [B, S, 3, 3]
        depth: [B, S, H, W] (0 = invalid)
        valid: [B, S, H, W] bool, optional extra validity (combined with depth > 0 and finite).
    Returns:
        NormalizedScene (cameras with frame 0 = [I | 0], depth / s, camera-0-frame points / s, s).
    """
    cam_from_world, intrinsics, depth = cam_from_world.float(), intrinsics.float(), depth.float()
    ok = _valid_depth(depth, valid)
    depth = torch.where(ok, depth, 0)
    E0 = cam_from_world[:, :1]  # [B, 1, 3, 4]
    world_from_cam0 = _to_homogeneous(invert_extrinsics(E0))
    relative = (_to_homogeneous(cam_from_world) @ world_from_cam0)[..., :3, :]  # E_i inv(E_0)

    points = depth_to_world_points(depth, cam_from_world, intrinsics)  # [B, S, H, W, 3]
    B, S, H, W, _ = points.shape
    points = world_to_cam(points.reshape(B, S * H * W, 3), E0[:, 0]).reshape(B, S, H, W, 3)
    points = torch.where(ok[..., None], points, 0)
    n_valid = ok.flatten(1).sum(dim=1).float()
    scale = (points.norm(dim=-1).flatten(1).sum(dim=1) / (n_valid + 1e-3)).clamp(1e-6, 1e6)  # [B]

    relative = torch.cat([relative[..., :3], relative[..., 3:] / scale[:, None, None, None]], dim=-1)
    s = scale[:, None, None, None]
    return NormalizedScene(relative, depth / s, points / s[..., None], scale)


def normalize_targets(targets: GeometryTargets) -> GeometryTargets:
    """GeometryTargets re-expressed by `normalize_scene` (intrinsics and validity unchanged)."""
    scene = normalize_scene(targets.cam_from_world, targets.intrinsics, targets.depth, targets.valid)
    valid = _valid_depth(targets.depth.float(), targets.valid)
    return GeometryTargets(scene.cam_from_world, targets.intrinsics.float(), scene.depth, valid)
