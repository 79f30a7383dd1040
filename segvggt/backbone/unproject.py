"""Depth + camera -> world points, matching VGGT's `unproject_depth_map_to_point_map` (float64 out)."""

from __future__ import annotations

from torch import Tensor

from segvggt.geometry import depth_to_cam_points, invert_extrinsics


def unproject_depth_map_to_point_map(depth: Tensor, extrinsics: Tensor, intrinsics: Tensor) -> Tensor:
    """depth [..., H, W, 1] or [..., H, W]; extrinsics cam_from_world [..., 3, 4]; intrinsics [..., 3, 3]
    -> world points [..., H, W, 3] float64.

    Pixel grid u = 0..W-1, v = 0..H-1 (no half-pixel offset). Precision follows upstream: camera
    points are formed in float64 and rounded to float32, the inverse pose is formed in the input
    precision, and the rotation into the world frame is done in float64.
    """
    if depth.shape[-1] == 1 and depth.dim() == extrinsics.dim() + 1:
        depth = depth[..., 0]
    cam = depth_to_cam_points(depth.double(), intrinsics.double()).to(depth.dtype)
    world_from_cam = invert_extrinsics(extrinsics)
    H, W = depth.shape[-2:]
    flat = cam.reshape(*cam.shape[:-3], H * W, 3).double()
    R, t = world_from_cam[..., :3].double(), world_from_cam[..., 3:].double()
    world = flat @ R.transpose(-1, -2) + t.transpose(-1, -2)
    return world.reshape(*cam.shape[:-1], 3)
