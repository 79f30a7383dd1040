"""Furniture of the synthetic rooms, built from boxes, cylinders and spheres.

Every builder returns a `Furniture` in its own frame: z up, footprint centred on the origin,
standing on z = 0. `part_meshes` turns the parts into open3d triangle meshes placed in the room.
Dimensions are plausible real-world sizes in metres, so depth statistics look like indoor scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from segvggt.data.classes import SYNTHETIC_IDS, SYNTHETIC_NAMES

LABEL = dict(zip(SYNTHETIC_NAMES, SYNTHETIC_IDS))


@dataclass(frozen=True)
class Part:
    """One primitive of an object, in the object's frame.

    kind: "box" (size = (sx, sy, sz)), "cylinder" (size = (radius, height), axis z) or
    "sphere" (size = (radius,)); center: (x, y, z) of the primitive's centre; tone multiplies the
    instance colour (legs darker, mattress lighter) so parts of one object stay distinguishable.
    """

    kind: str
    size: tuple[float, ...]
    center: tuple[float, float, float]
    tone: float = 1.0


@dataclass(frozen=True)
class Furniture:
    label_id: int
    parts: tuple[Part, ...]
    footprint: tuple[float, float]  # (width along x, depth along y) in the object's frame


def _box(sx: float, sy: float, sz: float, x: float, y: float, z0: float, tone: float = 1.0) -> Part:
    """Box of size (sx, sy, sz) centred at (x, y) whose bottom is at z0."""
    return Part("box", (sx, sy, sz), (x, y, z0 + sz / 2), tone)


def _cyl(r: float, h: float, x: float, y: float, z0: float, tone: float = 1.0) -> Part:
    return Part("cylinder", (r, h), (x, y, z0 + h / 2), tone)


def _legs(w: float, d: float, h: float, inset: float, thick: float, round_legs: bool) -> list[Part]:
    xs, ys = (w / 2 - inset, -(w / 2 - inset)), (d / 2 - inset, -(d / 2 - inset))
    if round_legs:
        return [_cyl(thick / 2, h, x, y, 0.0, 0.7) for x in xs for y in ys]
    return [_box(thick, thick, h, x, y, 0.0, 0.7) for x in xs for y in ys]


def table(rng: np.random.Generator) -> Furniture:
    w, d, h, t = rng.uniform(0.8, 1.6), rng.uniform(0.6, 1.0), rng.uniform(0.68, 0.78), 0.04
    parts = [_box(w, d, t, 0, 0, h - t)] + _legs(w, d, h - t, 0.07, 0.06, bool(rng.integers(2)))
    return Furniture(LABEL["table"], tuple(parts), (w, d))


def chair(rng: np.random.Generator) -> Furniture:
    s, h, t = rng.uniform(0.42, 0.52), rng.uniform(0.42, 0.48), 0.05
    back_h = rng.uniform(0.35, 0.5)
    parts = [_box(s, s, t, 0, 0, h - t), _box(s, t, back_h, 0, -s / 2 + t / 2, h, 0.9)]
    parts += _legs(s, s, h - t, 0.04, 0.04, bool(rng.integers(2)))
    return Furniture(LABEL["chair"], tuple(parts), (s, s))


def bed(rng: np.random.Generator) -> Furniture:
    w, l = rng.uniform(1.0, 1.8), rng.uniform(1.9, 2.1)
    base_h, mat_h, head_h = rng.uniform(0.25, 0.35), rng.uniform(0.15, 0.22), rng.uniform(0.8, 1.1)
    parts = [
        _box(w, l, base_h, 0, 0, 0.0, 0.8),
        _box(w - 0.04, l - 0.1, mat_h, 0, 0.03, base_h, 1.25),
        _box(w, 0.06, head_h, 0, -l / 2 + 0.03, 0.0, 0.7),
        _box(0.5, 0.35, 0.12, -w / 4 if w > 1.3 else 0, -l / 2 + 0.3, base_h + mat_h, 1.35),
    ]
    return Furniture(LABEL["bed"], tuple(parts), (w, l))


def sofa(rng: np.random.Generator) -> Furniture:
    w, d = rng.uniform(1.5, 2.2), rng.uniform(0.8, 0.95)
    seat_h, back_h, arm_h, arm_w = rng.uniform(0.38, 0.45), rng.uniform(0.75, 0.9), rng.uniform(0.55, 0.65), 0.16
    parts = [
        _box(w - 2 * arm_w, d - 0.2, seat_h, 0, 0.1, 0.0),
        _box(w, 0.2, back_h, 0, -d / 2 + 0.1, 0.0, 0.85),
        _box(arm_w, d, arm_h, -w / 2 + arm_w / 2, 0, 0.0, 0.9),
        _box(arm_w, d, arm_h, w / 2 - arm_w / 2, 0, 0.0, 0.9),
    ]
    return Furniture(LABEL["sofa"], tuple(parts), (w, d))


def cabinet(rng: np.random.Generator) -> Furniture:
    w, d, h = rng.uniform(0.6, 1.2), rng.uniform(0.4, 0.6), rng.uniform(0.8, 1.9)
    door_w = w / 2 - 0.02
    parts = [_box(w, d, h, 0, 0, 0.0)]
    # two doors stand slightly proud of the front face (+y) so shading shows their edges
    parts += [_box(door_w, 0.02, h - 0.1, sx * (door_w / 2 + 0.01), d / 2 + 0.01, 0.05, 1.15) for sx in (-1, 1)]
    parts += [_cyl(0.015, 0.12, sx * 0.06, d / 2 + 0.03, h / 2, 0.5) for sx in (-1, 1)]
    return Furniture(LABEL["cabinet"], tuple(parts), (w, d + 0.04))


def bookshelf(rng: np.random.Generator) -> Furniture:
    w, d, h, t = rng.uniform(0.7, 1.2), rng.uniform(0.28, 0.4), rng.uniform(1.4, 2.0), 0.03
    parts = [
        _box(t, d, h, -w / 2 + t / 2, 0, 0.0),
        _box(t, d, h, w / 2 - t / 2, 0, 0.0),
        _box(w, t, h, 0, -d / 2 + t / 2, 0.0, 0.8),
        _box(w, d, t, 0, 0, h - t),
    ]
    n_shelves = int(rng.integers(3, 6))
    for z in np.linspace(0.05, h - t, n_shelves + 1)[:-1]:
        parts.append(_box(w - 2 * t, d - t, t, 0, t / 2, float(z)))
        # a row of "books" on the shelf, darker so the shelf structure stays visible
        parts.append(_box(w * rng.uniform(0.3, 0.8) - 2 * t, d * 0.6, 0.18, 0, 0.0, float(z) + t, 0.6))
    return Furniture(LABEL["bookshelf"], tuple(parts), (w, d))


def desk(rng: np.random.Generator) -> Furniture:
    w, d, h, t = rng.uniform(1.1, 1.6), rng.uniform(0.6, 0.75), rng.uniform(0.72, 0.76), 0.035
    ped_w = 0.4
    parts = [
        _box(w, d, t, 0, 0, h - t),
        _box(ped_w, d - 0.05, h - t, w / 2 - ped_w / 2 - 0.02, 0, 0.0, 0.85),
        _box(0.05, d - 0.05, h - t, -w / 2 + 0.05, 0, 0.0, 0.7),
        _box(w - ped_w - 0.1, 0.02, 0.3, -ped_w / 2, -d / 2 + 0.05, h - t - 0.3, 0.8),
    ]
    return Furniture(LABEL["desk"], tuple(parts), (w, d))


def lamp(rng: np.random.Generator) -> Furniture:
    pole_h, shade_r, shade_h = rng.uniform(1.2, 1.6), rng.uniform(0.17, 0.25), rng.uniform(0.22, 0.3)
    parts = [
        _cyl(0.15, 0.03, 0, 0, 0.0, 0.6),
        _cyl(0.015, pole_h, 0, 0, 0.03, 0.6),
        _cyl(shade_r, shade_h, 0, 0, 0.03 + pole_h - shade_h * 0.3, 1.3),
    ]
    size = 2 * max(0.15, shade_r)
    return Furniture(LABEL["lamp"], tuple(parts), (size, size))


def box(rng: np.random.Generator) -> Furniture:
    sx, sy, sz = rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.6), rng.uniform(0.25, 0.6)
    parts = [_box(sx, sy, sz, 0, 0, 0.0), _box(sx, 0.06, 0.005, 0, 0, sz, 0.7)]  # a tape strip on the lid
    return Furniture(LABEL["box"], tuple(parts), (sx, sy))


def plant(rng: np.random.Generator) -> Furniture:
    pot_r, pot_h, leaf_r = rng.uniform(0.14, 0.22), rng.uniform(0.22, 0.35), rng.uniform(0.25, 0.4)
    parts = [
        _cyl(pot_r, pot_h, 0, 0, 0.0, 0.45),
        _cyl(0.02, 0.15, 0, 0, pot_h, 0.5),
        Part("sphere", (leaf_r,), (0.0, 0.0, pot_h + 0.1 + leaf_r)),
    ]
    size = 2 * max(pot_r, leaf_r)
    return Furniture(LABEL["plant"], tuple(parts), (size, size))


BUILDERS: dict[int, Callable[[np.random.Generator], Furniture]] = {
    LABEL[f.__name__]: f for f in (table, chair, bed, sofa, cabinet, bookshelf, desk, lamp, box, plant)
}

# Class-typical hue (HSV) of the instance classes; instances vary around it.
CLASS_HUE = {
    LABEL["table"]: 0.07, LABEL["chair"]: 0.62, LABEL["bed"]: 0.95, LABEL["sofa"]: 0.76,
    LABEL["cabinet"]: 0.50, LABEL["bookshelf"]: 0.02, LABEL["desk"]: 0.42, LABEL["lamp"]: 0.15,
    LABEL["box"]: 0.11, LABEL["plant"]: 0.31,
}  # fmt: skip


def part_mesh(part: Part, yaw: float, position: tuple[float, float]):
    """open3d TriangleMesh of `part`, rotated by `yaw` about z and moved to `position` on the floor."""
    import open3d as o3d

    if part.kind == "box":
        sx, sy, sz = part.size
        mesh = o3d.geometry.TriangleMesh.create_box(sx, sy, sz)
        mesh.translate((-sx / 2, -sy / 2, -sz / 2))
    elif part.kind == "cylinder":
        radius, height = part.size
        mesh = o3d.geometry.TriangleMesh.create_cylinder(radius=radius, height=height, resolution=16, split=1)
    elif part.kind == "sphere":
        mesh = o3d.geometry.TriangleMesh.create_sphere(radius=part.size[0], resolution=10)
    else:
        raise ValueError(f"unknown primitive kind {part.kind!r}; use box, cylinder or sphere")
    mesh.translate(part.center)
    c, s = np.cos(yaw), np.sin(yaw)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    mesh.rotate(rotation, center=(0.0, 0.0, 0.0))
    mesh.translate((position[0], position[1], 0.0))
    return mesh


def slab_mesh(lo: tuple[float, float, float], hi: tuple[float, float, float]):
    """Axis-aligned box mesh from corner `lo` to corner `hi` (walls, floor, ceiling)."""
    import open3d as o3d

    size = np.asarray(hi, dtype=np.float64) - np.asarray(lo, dtype=np.float64)
    mesh = o3d.geometry.TriangleMesh.create_box(*size)
    mesh.translate(lo)
    return mesh


def sample_surface(
    mesh,
    density: float,
    rng: np.random.Generator,
    *,
    inward_to: np.ndarray | None = None,
    drop_floor_faces: bool = False,
) -> np.ndarray:
    """Points [M, 3] drawn uniformly on `mesh`'s surface, about `density` per square metre.

    inward_to: keep only faces whose normal points towards this point (the room's inside faces of
    walls, floor and ceiling); drop_floor_faces: skip downward faces resting on z = 0, which no
    camera can see. Uses `rng` only, so the result is reproducible from the scene seed.
    """
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    tri = vertices[np.asarray(mesh.triangles)]  # [T, 3 corners, 3]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    normal = cross / np.maximum(2.0 * area, 1e-12)[:, None]
    keep = area > 1e-12
    centroid = tri.mean(axis=1)
    if inward_to is not None:
        keep &= np.einsum("tc,tc->t", normal, inward_to - centroid) > 0
    if drop_floor_faces:
        keep &= ~((normal[:, 2] < -0.9) & (centroid[:, 2] < 1e-3))
    tri, area = tri[keep], area[keep]
    count = max(1, int(round(area.sum() * density)))
    face = rng.choice(len(tri), size=count, p=area / area.sum())
    r1, r2 = rng.random(count), rng.random(count)
    s = np.sqrt(r1)  # uniform barycentric sampling
    a, b, c = 1.0 - s, s * (1.0 - r2), s * r2
    return a[:, None] * tri[face, 0] + b[:, None] * tri[face, 1] + c[:, None] * tri[face, 2]


def voxel_superpoints(points: np.ndarray, part: np.ndarray, voxel: float) -> np.ndarray:
    """Superpoint id [M] per point: one id per (part, voxel) cell, so a superpoint never spans two
    parts (hence never two instances). points [M, 3], part [M] int."""
    cells = np.floor(points / voxel).astype(np.int64)
    keys = np.concatenate([part[:, None].astype(np.int64), cells], axis=1)
    _, ids = np.unique(keys, axis=0, return_inverse=True)
    return ids.reshape(-1).astype(np.int64)
