"""The project's one camera convention, spelled out in function names.

OpenCV axes (x right, y down, z forward). Extrinsics are `cam_from_world` [..., 3, 4]
(x_cam = R x_world + t); intrinsics [..., 3, 3] in pixels of the image they belong to.
Pixel (u, v) = (column, row); pixel centres sit at integer coordinates (VGGT's convention).
Every function works on torch tensors with arbitrary leading batch dimensions.
"""

from __future__ import annotations

import torch
from torch import Tensor


def invert_extrinsics(cam_from_world: Tensor) -> Tensor:
    """[..., 3, 4] cam_from_world -> [..., 3, 4] world_from_cam (closed form R^T, -R^T t)."""
    R, t = cam_from_world[..., :3], cam_from_world[..., 3:]
    Rt = R.transpose(-1, -2)
    return torch.cat([Rt, -Rt @ t], dim=-1)


def world_to_cam(p_world: Tensor, cam_from_world: Tensor) -> Tensor:
    """p_world: [..., N, 3]; cam_from_world: [..., 3, 4] -> [..., N, 3] camera coordinates."""
    R, t = cam_from_world[..., :3], cam_from_world[..., 3:]
    return p_world @ R.transpose(-1, -2) + t.transpose(-1, -2)


def cam_to_world(p_cam: Tensor, cam_from_world: Tensor) -> Tensor:
    """p_cam: [..., N, 3]; cam_from_world: [..., 3, 4] -> [..., N, 3] world coordinates."""
    return world_to_cam(p_cam, invert_extrinsics(cam_from_world))


def cam_to_pixel(p_cam: Tensor, intrinsics: Tensor) -> tuple[Tensor, Tensor]:
    """p_cam: [..., N, 3]; intrinsics [..., 3, 3] -> (uv [..., N, 2], z [..., N]).

    Points with z <= 0 get non-finite uv; callers mask them with `z > 0`.
    """
    z = p_cam[..., 2]
    fx, fy = intrinsics[..., 0, 0, None], intrinsics[..., 1, 1, None]
    cx, cy = intrinsics[..., 0, 2, None], intrinsics[..., 1, 2, None]
    safe_z = torch.where(z > 0, z, torch.full_like(z, float("nan")))
    u = fx * p_cam[..., 0] / safe_z + cx
    v = fy * p_cam[..., 1] / safe_z + cy
    return torch.stack([u, v], dim=-1), z


def project_to_pixels(p_world: Tensor, cam_from_world: Tensor, intrinsics: Tensor) -> tuple[Tensor, Tensor]:
    """World points [..., N, 3] -> (uv [..., N, 2] in pixels, depth z [..., N])."""
    return cam_to_pixel(world_to_cam(p_world, cam_from_world), intrinsics)


def pixel_grid(height: int, width: int, device=None, dtype=torch.float32) -> Tensor:
    """[H, W, 2] pixel coordinates (u, v) = (column, row), no half-pixel offset."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype), torch.arange(width, device=device, dtype=dtype), indexing="ij"
    )
    return torch.stack([u, v], dim=-1)


def depth_to_cam_points(depth: Tensor, intrinsics: Tensor) -> Tensor:
    """depth [..., H, W] (0 = invalid), intrinsics [..., 3, 3] -> camera points [..., H, W, 3]."""
    H, W = depth.shape[-2:]
    uv = pixel_grid(H, W, device=depth.device, dtype=depth.dtype)
    fx, fy = intrinsics[..., 0, 0, None, None], intrinsics[..., 1, 1, None, None]
    cx, cy = intrinsics[..., 0, 2, None, None], intrinsics[..., 1, 2, None, None]
    x = (uv[..., 0] - cx) * depth / fx
    y = (uv[..., 1] - cy) * depth / fy
    return torch.stack([x, y, depth], dim=-1)


def depth_to_world_points(depth: Tensor, cam_from_world: Tensor, intrinsics: Tensor) -> Tensor:
    """depth [..., H, W], cam_from_world [..., 3, 4], intrinsics [..., 3, 3] -> [..., H, W, 3] world points."""
    p_cam = depth_to_cam_points(depth, intrinsics)
    H, W = depth.shape[-2:]
    flat = p_cam.reshape(*p_cam.shape[:-3], H * W, 3)
    return cam_to_world(flat, cam_from_world).reshape(p_cam.shape)


def scale_intrinsics(intrinsics: Tensor, sx: float, sy: float) -> Tensor:
    """Intrinsics of an image resized by (sx, sy) = (new_w / old_w, new_h / old_h).

    Uses the pixel-centre-at-integer convention: u' + 0.5 = sx (u + 0.5).
    """
    K = intrinsics.clone()
    K[..., 0, 0] *= sx
    K[..., 1, 1] *= sy
    K[..., 0, 2] = (K[..., 0, 2] + 0.5) * sx - 0.5
    K[..., 1, 2] = (K[..., 1, 2] + 0.5) * sy - 0.5
    return K


def point_visibility(
    points: Tensor,
    cam_from_world: Tensor,
    intrinsics: Tensor,
    depth: Tensor,
    depth_tolerance: float = 0.2,
    relative_tolerance: float = 0.0,
    frames_chunk: int = 8,
) -> tuple[Tensor, Tensor]:
    """Which points each view sees, and at which pixel.

    Args:
        points: [M, 3] world points.
        cam_from_world: [S, 3, 4]; intrinsics: [S, 3, 3] in pixels of `depth`.
        depth: [S, H, W] metres, 0 = invalid.
    Returns:
        visible: [S, M] bool.
        pixel_index: [S, M] int64 flat pixel row * W + col at depth resolution, -1 where not visible.
    """
    if points.ndim != 2 or points.shape[-1] != 3:
        raise ValueError(f"point_visibility: points must be [M, 3], got {tuple(points.shape)}")
    S, H, W = depth.shape
    if cam_from_world.shape != (S, 3, 4) or intrinsics.shape != (S, 3, 3):
        raise ValueError(
            f"point_visibility: {S} depth maps need cam_from_world [S, 3, 4] and intrinsics [S, 3, 3], got "
            f"{tuple(cam_from_world.shape)} and {tuple(intrinsics.shape)}"
        )
    dtype = points.dtype if points.is_floating_point() else torch.float32
    points = points.to(dtype)
    M = points.shape[0]
    visible = torch.zeros(S, M, dtype=torch.bool, device=points.device)
    pixel_index = torch.full((S, M), -1, dtype=torch.long, device=points.device)
    flat_depth = depth.reshape(S, H * W).to(dtype)
    for start in range(0, S, max(1, frames_chunk)):
        sl = slice(start, start + frames_chunk)
        # uv [c, M, 2], z [c, M]
        uv, z = project_to_pixels(points, cam_from_world[sl].to(dtype), intrinsics[sl].to(dtype))
        col, row = torch.floor(uv[..., 0] + 0.5), torch.floor(uv[..., 1] + 0.5)  # NaN behind the camera
        inside = (z > 0) & (col >= 0) & (col < W) & (row >= 0) & (row < H)
        flat = torch.where(inside, row * W + col, torch.zeros_like(col)).long()
        d = flat_depth[sl].gather(1, flat)
        tolerance = torch.clamp_min(relative_tolerance * z, depth_tolerance)
        vis = inside & (d > 0) & ((d - z).abs() <= tolerance)
        visible[sl] = vis
        pixel_index[sl] = torch.where(vis, flat, torch.full_like(flat, -1))
    return visible, pixel_index
