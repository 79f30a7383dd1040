"""Ray-cast rendering of a room of primitives: RGB, z-depth and instance ids per pixel.

Rays come from the project's camera convention (OpenCV axes, `cam_from_world`, pixel centres at
integer coordinates). Each ray direction has unit z in the camera frame, so open3d's parametric
hit distance `t_hit` IS the camera-frame depth z (not the Euclidean ray length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PLAIN, STRIPES, CHECKER = 0, 1, 2
MISS_COLOR = np.array([0.05, 0.05, 0.05])


@dataclass(frozen=True)
class Appearance:
    """Per-part surface description, P = number of parts (one geometry per part).

    albedo [P, 3] in [0, 1]; pattern [P] (PLAIN, STRIPES, CHECKER); period [P] metres;
    amplitude [P] darkening of the pattern's odd cells; axis [P, 3] stripe direction;
    instance [P] instance id (0 = wall/floor/ceiling).
    """

    albedo: np.ndarray
    pattern: np.ndarray
    period: np.ndarray
    amplitude: np.ndarray
    axis: np.ndarray
    instance: np.ndarray


@dataclass(frozen=True)
class Lighting:
    direction: np.ndarray  # [3] unit vector towards the light, world frame
    ambient: float = 0.3
    diffuse: float = 0.55
    headlight: float = 0.25  # light from the camera, so faces in the key light's shadow keep some shading


@dataclass(frozen=True)
class RoomScene:
    """All parts of a room in ONE open3d RaycastingScene (one acceleration structure instead of one
    per part, and no per-part tensor conversion): part_of [T] = part index of every triangle."""

    raycaster: object  # open3d.t.geometry.RaycastingScene
    part_of: np.ndarray


def build_scene(meshes: list) -> RoomScene:
    """RoomScene of meshes[i] = part i (legacy open3d TriangleMesh)."""
    import open3d as o3d

    vertices, triangles, part_of, offset = [], [], [], 0
    for i, mesh in enumerate(meshes):
        v, f = np.asarray(mesh.vertices), np.asarray(mesh.triangles)
        vertices.append(v)
        triangles.append(f + offset)
        part_of.append(np.full(len(f), i, dtype=np.int64))
        offset += len(v)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(np.ascontiguousarray(np.concatenate(vertices), dtype=np.float32)),
        o3d.core.Tensor(np.ascontiguousarray(np.concatenate(triangles), dtype=np.uint32)),
    )
    return RoomScene(scene, np.concatenate(part_of))


def pinhole_rays(cam_from_world: np.ndarray, intrinsics: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Rays of every pixel: [H, W, 6] = (origin, direction) in world, direction with camera z = 1."""
    H, W = hw
    R, t = cam_from_world[:, :3], cam_from_world[:, 3]
    v, u = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    fx, fy, cx, cy = intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2], intrinsics[1, 2]
    d_cam = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], axis=-1)
    d_world = d_cam @ R  # R^T d for row vectors
    origin = np.broadcast_to(-R.T @ t, d_world.shape)
    return np.concatenate([origin, d_world], axis=-1)


def _texture(points: np.ndarray, part: np.ndarray, look: Appearance) -> np.ndarray:
    """Multiplicative pattern factor [M] of hit points [M, 3] on parts [M]."""
    period = look.period[part][:, None]
    cells = np.floor(points / period).astype(np.int64)
    stripes = np.floor(np.einsum("mc,mc->m", points, look.axis[part]) / period[:, 0]).astype(np.int64) % 2
    checker = cells.sum(axis=1) % 2
    kind = look.pattern[part]
    odd = np.where(kind == STRIPES, stripes, np.where(kind == CHECKER, checker, 0))
    return 1.0 - look.amplitude[part] * odd


def render_view(
    scene, look: Appearance, light: Lighting, cam_from_world: np.ndarray, intrinsics: np.ndarray, hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one view.

    Args:
        scene: a `RoomScene`; look: per-part appearance; cam_from_world [3, 4]; intrinsics [3, 3].
    Returns:
        color [H, W, 3] uint8, depth [H, W] float32 metres (camera z, 0 = miss),
        instance [H, W] int64 (0 = background / wall / floor / miss).
    """
    import open3d as o3d

    H, W = hw
    rays = pinhole_rays(cam_from_world, intrinsics, hw).reshape(-1, 6)
    hit = scene.raycaster.cast_rays(o3d.core.Tensor(rays.astype(np.float32)))
    t = hit["t_hit"].numpy().astype(np.float64)
    triangle = hit["primitive_ids"].numpy().astype(np.int64)
    normals = hit["primitive_normals"].numpy().astype(np.float64)
    ok = np.isfinite(t) & (triangle >= 0) & (triangle < len(scene.part_of))
    part = np.where(ok, scene.part_of[np.where(ok, triangle, 0)], 0)
    depth = np.where(ok, t, 0.0)

    direction = rays[:, 3:]
    points = rays[:, :3] + depth[:, None] * direction
    # surfaces are two-sided: turn every normal towards the viewer
    facing = np.sign(-np.einsum("mc,mc->m", normals, direction))
    normals = normals * np.where(facing == 0, 1.0, facing)[:, None]
    view = -direction / np.linalg.norm(direction, axis=1, keepdims=True)
    shade = (
        light.ambient
        + light.diffuse * np.clip(normals @ light.direction, 0.0, None)
        + light.headlight * np.clip(np.einsum("mc,mc->m", normals, view), 0.0, None)
    )
    rgb = look.albedo[part] * (shade * _texture(points, part, look))[:, None]
    rgb = np.where(ok[:, None], rgb, MISS_COLOR)
    color = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8).reshape(H, W, 3)
    instance = np.where(ok, look.instance[part], 0).astype(np.int64).reshape(H, W)
    return color, depth.astype(np.float32).reshape(H, W), instance
