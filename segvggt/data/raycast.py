"""Images for a target pinhole camera: ray casting a mesh, and resampling between intrinsics.

Ray casting (open3d RaycastingScene, imported lazily) is used where no 2D instance images exist:
every pixel's ray hits a triangle, the triangle's vertex nearest to the hit carries the instance id
of that vertex, and the ray length gives a z-depth. `camera_resample` moves an image taken with one
set of intrinsics onto the pixel grid of another (same centre and axes), e.g. ScanNet colour onto
the depth camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from segvggt.data.errors import DataError


@dataclass(frozen=True)
class RaycastHit:
    """Per pixel: triangle [H, W] int64 (-1 = miss), vertex [H, W] int64 nearest vertex of the hit
    triangle (-1 = miss), depth [H, W] float32 camera z in metres (0 = miss)."""

    triangle: np.ndarray
    vertex: np.ndarray
    depth: np.ndarray


class MeshRaycaster:
    """Build the acceleration structure once per mesh, then cast one camera at a time."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        """vertices [M, 3]; faces [F, 3] vertex indices."""
        import open3d as o3d  # lazy: heavy import, only preparation needs it

        if len(faces) == 0:
            raise DataError("cannot ray cast a mesh without faces; the PLY file has no face element")
        self.faces = np.asarray(faces, dtype=np.int64)
        self._scene = o3d.t.geometry.RaycastingScene()
        self._scene.add_triangles(
            o3d.core.Tensor(np.ascontiguousarray(vertices, dtype=np.float32)),
            o3d.core.Tensor(np.ascontiguousarray(self.faces, dtype=np.uint32)),
        )
        self._o3d = o3d

    def cast(self, cam_from_world: np.ndarray, intrinsics: np.ndarray, height: int, width: int) -> RaycastHit:
        """cam_from_world [3, 4] (OpenCV), intrinsics [3, 3] -> RaycastHit for an H x W image."""
        R = np.asarray(cam_from_world, dtype=np.float64)[:3, :3]
        t = np.asarray(cam_from_world, dtype=np.float64)[:3, 3]
        K = np.asarray(intrinsics, dtype=np.float64)
        v, u = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
        d_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
        # Directions keep camera z = 1, so the parametric hit distance t_hit is the z-depth itself.
        d_world = d_cam.reshape(-1, 3) @ R  # = (R^T d)^T
        origin = np.broadcast_to(-R.T @ t, d_world.shape)
        rays = np.concatenate([origin, d_world], axis=1).astype(np.float32)
        ans = self._scene.cast_rays(self._o3d.core.Tensor(rays))
        t_hit = ans["t_hit"].numpy().reshape(height, width)
        prim = ans["primitive_ids"].numpy().astype(np.int64).reshape(height, width)
        uvs = ans["primitive_uvs"].numpy().reshape(height, width, 2)
        hit = np.isfinite(t_hit) & (prim < len(self.faces)) & (prim >= 0)
        triangle = np.where(hit, prim, -1)
        # barycentric weights of (v0, v1, v2) are (1 - u - v, u, v)
        bary = np.stack([1.0 - uvs[..., 0] - uvs[..., 1], uvs[..., 0], uvs[..., 1]], axis=-1)
        corner = np.argmax(bary, axis=-1)
        vertex = np.full((height, width), -1, dtype=np.int64)
        vertex[hit] = self.faces[triangle[hit], corner[hit]]
        depth = np.where(hit, t_hit, 0.0).astype(np.float32)
        return RaycastHit(triangle, vertex, depth)


def scaled_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """[3, 3] intrinsics of an image resized by (sx, sy); segvggt.geometry.scale_intrinsics on numpy."""
    import torch

    from segvggt.geometry import scale_intrinsics

    return scale_intrinsics(torch.as_tensor(K, dtype=torch.float64), sx, sy).numpy()


def camera_resample(img: np.ndarray, K_src: np.ndarray, K_dst: np.ndarray, out_hw: tuple[int, int], order: int):
    """Resample an image [h, w(, C)] taken with K_src onto the pixel grid of K_dst (same camera centre and
    axes) -> [H, W(, C)]. order 0 = nearest (ids, depth), 1 = bilinear (colour; box-filtered first when
    shrinking). Pixels that fall outside the source become 0."""
    H, W = out_hw
    h, w = img.shape[:2]
    if order == 1 and (w > 1.5 * W or h > 1.5 * H):
        # Shrink with an anti-aliasing filter first, then correct the small remaining offset.
        small = np.asarray(Image.fromarray(img).resize((W, H), Image.Resampling.BILINEAR))
        K_small = scaled_intrinsics(K_src, W / w, H / h)
        return camera_resample(small, K_small, K_dst, out_hw, order=1)
    # target pixel (u, v) -> source (a u + b, c v + d); skew is zero in ScanNet intrinsics
    A = np.asarray(K_src, np.float64) @ np.linalg.inv(np.asarray(K_dst, np.float64))
    xs = A[0, 0] * np.arange(W) + A[0, 2]
    ys = A[1, 1] * np.arange(H) + A[1, 2]
    if (h, w) == (H, W) and np.allclose(xs, np.arange(W), atol=1e-3) and np.allclose(ys, np.arange(H), atol=1e-3):
        return img.copy()
    if order == 0:
        cols, rows = np.rint(xs).astype(np.int64), np.rint(ys).astype(np.int64)
        ok_c, ok_r = (cols >= 0) & (cols < w), (rows >= 0) & (rows < h)
        out = img[np.clip(rows, 0, h - 1)][:, np.clip(cols, 0, w - 1)]
        out[~ok_r] = 0
        out[:, ~ok_c] = 0
        return out
    x0 = np.clip(np.floor(xs).astype(np.int64), 0, w - 2)
    y0 = np.clip(np.floor(ys).astype(np.int64), 0, h - 2)
    fx = np.clip(xs - x0, 0.0, 1.0)[None, :, None]
    fy = np.clip(ys - y0, 0.0, 1.0)[:, None, None]
    f = img.astype(np.float32).reshape(h, w, -1)
    top = f[y0][:, x0] * (1 - fx) + f[y0][:, x0 + 1] * fx
    bot = f[y0 + 1][:, x0] * (1 - fx) + f[y0 + 1][:, x0 + 1] * fx
    out = top * (1 - fy) + bot * fy
    out[(ys < -0.5) | (ys > h - 0.5)] = 0
    out[:, (xs < -0.5) | (xs > w - 0.5)] = 0
    return np.clip(np.rint(out), 0, 255).astype(img.dtype).reshape((H, W) + img.shape[2:])
