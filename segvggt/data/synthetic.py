"""The embedded default dataset: procedurally built and ray-cast indoor rooms.

A room = floor, four walls and a ceiling (labels wall = 1, floor = 2, instance 0, so void in the
benchmark) plus 3-7 pieces of furniture of the 10 instance classes on a non-overlapping floor
layout, each with its own colour and 3D procedural texture. The camera moves at eye height on an
ellipse around the room centre; `trajectory` decides how:

- "orbit": one full turn in F frames, each view looking across the centre at the far side, so
  consecutive views are ~36 degrees apart and opposite views share almost nothing;
- "sweep": an arc of `sweep_degrees` (drawn per room), every view looking at one common spot
  near the centre, like a person scanning a corner of the room: consecutive views overlap
  strongly, so the relative cameras can be read from the images (and each object is seen from
  several views, as in a video scan). Each scene is written with
`prepared.write_scene` (benchmark "synthetic"), so the rest of the project reads it like ScanNet.

Determinism: scene k of split s uses `np.random.default_rng([seed, s, k])` and nothing else,
and colour is stored as PNG, so the same seed gives the same bytes.
"""

from __future__ import annotations

import colorsys
import logging
import multiprocessing
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segvggt.data import primitives as prim
from segvggt.data.prepared import SCENE_FILE, write_scene, write_split
from segvggt.data.render import CHECKER, PLAIN, STRIPES, Appearance, Lighting, build_scene, render_view
from segvggt.data.synthetic_cameras import camera_eyes, camera_poses, look_at, sweep_eyes, sweep_poses  # noqa: F401

log = logging.getLogger(__name__)

VERSION = "2"
OBSERVED_TOLERANCE = 0.05  # metres; tighter than the evaluation's visibility test
WALL, FLOOR = prim.LABEL["wall"], prim.LABEL["floor"]
SPLIT_CODES = {"train": 0, "val": 1}
TRAJECTORIES = ("orbit", "sweep")
WALL_STYLES = ("uniform", "distinct")
SOURCE_PREFIX = "segvggt.data.synthetic v"  # how every room this module renders names its source


@dataclass(frozen=True)
class SyntheticSpec:
    """What one synthetic scene looks like (sizes in pixels, densities in points per m^2)."""

    width: int = 112  # multiples of 14 fit the network's patch size without resizing
    height: int = 84
    frames: int = 10
    min_objects: int = 3
    max_objects: int = 7
    structure_density: float = 40.0
    object_density: float = 500.0
    structure_voxel: float = 0.5  # superpoint cell on walls / floor / ceiling
    object_voxel: float = 0.15  # superpoint cell on furniture parts
    trajectory: str = "orbit"  # "orbit" | "sweep" (module docstring)
    sweep_degrees: tuple[float, float] = (90.0, 150.0)  # arc of a "sweep", drawn uniformly per room
    walls: str = "uniform"  # "uniform": one pale colour, faint stripes | "distinct": a hue per wall, clear stripes

    def __post_init__(self) -> None:
        if self.trajectory not in TRAJECTORIES:
            raise ValueError(f"synthetic trajectory must be one of {TRAJECTORIES}, got {self.trajectory!r}")
        lo, hi = self.sweep_degrees
        if not 0.0 <= lo <= hi <= 360.0:
            raise ValueError(f"sweep_degrees must satisfy 0 <= low <= high <= 360, got {self.sweep_degrees}")
        if self.walls not in WALL_STYLES:
            raise ValueError(f"synthetic walls must be one of {WALL_STYLES}, got {self.walls!r}")

    def source(self, seed: int) -> str:
        # an orbit keeps the string of the rooms rendered before sweeps existed: their caches stay valid
        path = "" if self.trajectory == "orbit" else f", sweep {self.sweep_degrees[0]:g}-{self.sweep_degrees[1]:g} deg"
        path += "" if self.walls == "uniform" else f", {self.walls} walls"
        return (
            f"{SOURCE_PREFIX}{VERSION} (seed {seed}, {self.width}x{self.height}, {self.frames} frames, "
            f"{self.min_objects}-{self.max_objects} objects{path})"
        )


@dataclass
class Room:
    """Everything needed to render and sample one scene. P parts, F frames."""

    size: np.ndarray  # [3] (Lx, Ly, height); the room spans [0, Lx] x [0, Ly] x [0, height]
    meshes: list = field(default_factory=list)  # P open3d TriangleMesh, world frame
    part_label: list[int] = field(default_factory=list)  # [P] label id
    part_instance: list[int] = field(default_factory=list)  # [P] instance id, 0 for structure
    look: Appearance | None = None
    light: Lighting | None = None
    cam_from_world: np.ndarray | None = None  # [F, 3, 4]
    intrinsics: np.ndarray | None = None  # [F, 3, 3]


def _rotated_half_extent(furniture: prim.Furniture, yaw: float) -> np.ndarray:
    a, b = furniture.footprint[0] / 2, furniture.footprint[1] / 2
    c, s = abs(np.cos(yaw)), abs(np.sin(yaw))
    return np.array([a * c + b * s, a * s + b * c])


def place_furniture(
    rng: np.random.Generator, size: np.ndarray, eyes: np.ndarray, count: int
) -> list[tuple[prim.Furniture, float, np.ndarray]]:
    """Up to `count` (furniture, yaw, xy position) with non-overlapping footprints, inside the room
    and clear of every camera position."""
    labels = sorted(prim.BUILDERS)
    placed: list[tuple[prim.Furniture, float, np.ndarray]] = []
    boxes: list[tuple[np.ndarray, np.ndarray]] = []  # (centre, half extent) of placed footprints
    for _ in range(40 * count):
        if len(placed) == count:
            break
        furniture = prim.BUILDERS[labels[int(rng.integers(len(labels)))]](rng)
        yaw = float(rng.integers(4)) * np.pi / 2 + rng.uniform(-0.15, 0.15)
        half = _rotated_half_extent(furniture, yaw)
        lo, hi = half + 0.03, size[:2] - half - 0.03
        if np.any(lo >= hi):
            continue
        pos = rng.uniform(lo, hi)
        if any(np.all(np.abs(pos - c) < half + h + 0.08) for c, h in boxes):
            continue
        if np.any(np.all(np.abs(eyes[:, :2] - pos) < half + 0.35, axis=1)):
            continue
        placed.append((furniture, yaw, pos))
        boxes.append((pos, half))
    return placed


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v))


def _random_axis(rng: np.random.Generator) -> np.ndarray:
    axis = rng.normal(size=3)
    return axis / np.linalg.norm(axis)


def make_room(rng: np.random.Generator, spec: SyntheticSpec) -> tuple[Room, np.ndarray]:
    """Build the room, its furniture, appearance and cameras. Returns (room, eyes [F, 3])."""
    size = np.array([rng.uniform(3.5, 6.0), rng.uniform(3.5, 5.0), rng.uniform(2.5, 3.0)])
    Lx, Ly, Lz, t = *size, 0.05
    room = Room(size=size)
    albedo, pattern, period, amplitude, axis = [], [], [], [], []

    def add(mesh, label: int, instance: int, rgb: np.ndarray, kind: int, per: float, amp: float, ax: np.ndarray):
        room.meshes.append(mesh)
        room.part_label.append(label)
        room.part_instance.append(instance)
        albedo.append(np.clip(rgb, 0.0, 1.0))
        pattern.append(kind)
        period.append(per)
        amplitude.append(amp)
        axis.append(ax)

    wall_rgb = _hsv(rng.uniform(0.05, 0.15), rng.uniform(0.05, 0.25), rng.uniform(0.75, 0.92))
    floor_rgb = _hsv(rng.uniform(0.05, 0.12), rng.uniform(0.3, 0.6), rng.uniform(0.35, 0.6))
    x_axis, z_axis = np.array([1.0, 0, 0]), np.array([0, 0, 1.0])
    if rng.random() < 0.5:
        floor_kind, floor_period = CHECKER, rng.uniform(0.3, 0.6)  # tiles
    else:
        floor_kind, floor_period = STRIPES, rng.uniform(0.1, 0.2)  # planks
    add(prim.slab_mesh((0, 0, -t), (Lx, Ly, 0)), FLOOR, 0, floor_rgb, floor_kind, floor_period, 0.2, x_axis)
    add(prim.slab_mesh((0, 0, Lz), (Lx, Ly, Lz + t)), WALL, 0, np.full(3, 0.92), PLAIN, 1.0, 0.0, x_axis)
    walls = [((-t, -t, -t), (0, Ly + t, Lz + t)), ((Lx, -t, -t), (Lx + t, Ly + t, Lz + t)),
             ((-t, -t, -t), (Lx + t, 0, Lz + t)), ((-t, Ly, -t), (Lx + t, Ly + t, Lz + t))]  # fmt: skip
    first_hue = rng.uniform(0, 1) if spec.walls == "distinct" else 0.0  # uniform rooms keep their random stream
    for k, (lo, hi) in enumerate(walls):
        if spec.walls == "distinct":  # each wall its own hue a quarter turn apart: which wall is where tells the heading
            tint = _hsv(first_hue + k / 4 + rng.uniform(-0.04, 0.04), rng.uniform(0.2, 0.4), rng.uniform(0.6, 0.9))
            add(prim.slab_mesh(lo, hi), WALL, 0, tint, STRIPES, rng.uniform(0.2, 0.5), 0.15, z_axis)
            continue
        tint = wall_rgb * rng.uniform(0.92, 1.05)
        add(prim.slab_mesh(lo, hi), WALL, 0, tint, STRIPES, rng.uniform(0.3, 0.8), 0.06, z_axis)

    if spec.trajectory == "sweep":
        eyes = sweep_eyes(rng, size, spec.frames, spec.sweep_degrees)
    else:
        eyes = camera_eyes(rng, size, spec.frames)
    count = int(rng.integers(spec.min_objects, spec.max_objects + 1))
    layout = place_furniture(rng, size, eyes, count)
    for instance, (furniture, yaw, pos) in enumerate(layout, start=1):
        hue = prim.CLASS_HUE[furniture.label_id] + rng.uniform(-0.035, 0.035)
        base = _hsv(hue, rng.uniform(0.45, 0.85), rng.uniform(0.55, 0.9))
        kind = int(rng.choice([PLAIN, STRIPES, CHECKER], p=[0.3, 0.35, 0.35]))
        per, amp, ax = rng.uniform(0.05, 0.2), rng.uniform(0.15, 0.35), _random_axis(rng)
        for part in furniture.parts:
            mesh = prim.part_mesh(part, yaw, pos)
            add(mesh, furniture.label_id, instance, base * part.tone, kind, per, amp, ax)

    room.look = Appearance(
        albedo=np.stack(albedo), pattern=np.asarray(pattern, dtype=np.int64), period=np.asarray(period),
        amplitude=np.asarray(amplitude), axis=np.stack(axis),
        instance=np.asarray(room.part_instance, dtype=np.int64),
    )  # fmt: skip
    azimuth = rng.uniform(0, 2 * np.pi)
    light = np.array([0.6 * np.cos(azimuth), 0.6 * np.sin(azimuth), 1.0])
    room.light = Lighting(direction=light / np.linalg.norm(light))
    hfov = np.deg2rad(rng.uniform(60.0, 75.0))
    focal = (spec.width / 2) / np.tan(hfov / 2)
    K = np.array([[focal, 0, (spec.width - 1) / 2], [0, focal, (spec.height - 1) / 2], [0, 0, 1.0]])
    centres = np.array([pos for _, _, pos in layout]).reshape(-1, 2)
    aim = sweep_poses if spec.trajectory == "sweep" else camera_poses
    room.cam_from_world = aim(rng, size, eyes, centres)
    room.intrinsics = np.repeat(K[None], spec.frames, axis=0)
    return room, eyes


def scene_points(rng: np.random.Generator, room: Room, spec: SyntheticSpec) -> tuple[np.ndarray, ...]:
    """Benchmark points on every surface: (points [M, 3], superpoints [M], point_gt [M])."""
    inside = room.size / 2
    pts, part_of, structure = [], [], []
    for p, mesh in enumerate(room.meshes):
        is_structure = room.part_instance[p] == 0
        if is_structure:
            x = prim.sample_surface(mesh, spec.structure_density, rng, inward_to=inside)
        else:
            x = prim.sample_surface(mesh, spec.object_density, rng, drop_floor_faces=True)
        pts.append(x)
        part_of.append(np.full(len(x), p))
        structure.append(np.full(len(x), is_structure))
    points, part, structure = np.concatenate(pts), np.concatenate(part_of), np.concatenate(structure)
    superpoints = np.empty(len(points), dtype=np.int64)
    s_ids = prim.voxel_superpoints(points[structure], part[structure], spec.structure_voxel)
    o_ids = prim.voxel_superpoints(points[~structure], part[~structure], spec.object_voxel)
    superpoints[structure] = s_ids
    superpoints[~structure] = o_ids + (s_ids.max() + 1 if len(s_ids) else 0)
    label = np.asarray(room.part_label, dtype=np.int64)[part]
    instance = np.asarray(room.part_instance, dtype=np.int64)[part]
    return points.astype(np.float32), superpoints, label * 1000 + instance


def scene_id_of(split: str, index: int) -> str:
    return f"synth_{split}_{index:05d}"


def _is_cached(root: Path, scene_id: str, source: str) -> bool:
    import json

    meta_path = root / scene_id / SCENE_FILE
    if not meta_path.is_file():
        return False
    try:
        return json.loads(meta_path.read_text()).get("source") == source
    except (OSError, ValueError):
        return False


def observed(points: np.ndarray, cam_from_world: np.ndarray, intrinsics: np.ndarray, depths: list[np.ndarray]) -> np.ndarray:
    """[M] bool: points that at least one rendered view sees (depth agrees within OBSERVED_TOLERANCE).

    A real scan (ScanNet's mesh) only holds surfaces the sensor saw; keeping unseen undersides
    and backs would put points into the benchmark that no multi-view method could ever label.
    """
    import torch

    from segvggt.geometry import point_visibility

    visible, _ = point_visibility(
        torch.from_numpy(np.asarray(points, dtype=np.float64)), torch.from_numpy(np.asarray(cam_from_world)),
        torch.from_numpy(np.asarray(intrinsics)), torch.from_numpy(np.stack(depths).astype(np.float64)),
        depth_tolerance=OBSERVED_TOLERANCE,
    )  # fmt: skip
    return visible.any(0).numpy()


def generate_scene(root: str | Path, split: str, index: int, seed: int, spec: SyntheticSpec) -> tuple[str, bool]:
    """Render and write scene `index` of `split` unless an identical one is on disk.

    Returns (scene_id, generated) where generated is False for a cache hit.
    """
    root, scene_id, source = Path(root), scene_id_of(split, index), spec.source(seed)
    if _is_cached(root, scene_id, source):
        return scene_id, False
    rng = np.random.default_rng([seed, SPLIT_CODES[split], index])
    room, _ = make_room(rng, spec)
    scene = build_scene(room.meshes)
    colors, depths, instances = [], [], []
    for f in range(spec.frames):
        E, K = room.cam_from_world[f], room.intrinsics[f]
        c, d, i = render_view(scene, room.look, room.light, E, K, (spec.height, spec.width))
        colors.append(c)
        depths.append(d)
        instances.append(i)
    points, superpoints, point_gt = scene_points(rng, room, spec)
    seen = observed(points, room.cam_from_world, room.intrinsics, depths)
    points, superpoints, point_gt = points[seen], superpoints[seen], point_gt[seen]
    labels = {int(i): int(l) for i, l in zip(room.part_instance, room.part_label) if i > 0}
    write_scene(
        root, scene_id, benchmark="synthetic", source=source,
        frame_names=[f"{f:06d}" for f in range(spec.frames)], colors=colors, depths=depths, instances=instances,
        cam_from_world=room.cam_from_world, intrinsics=room.intrinsics, instance_labels=labels,
        points=points, superpoints=superpoints, point_gt=point_gt, color_format="png",
    )  # fmt: skip
    return scene_id, True


@dataclass(frozen=True)
class GenerationReport:
    splits: dict[str, list[str]]
    generated: int
    cached: int
    seconds: float


def _job(args: tuple) -> tuple[str, bool]:
    return generate_scene(*args)


def generate(
    root: str | Path,
    *,
    num_train: int,
    num_val: int,
    seed: int = 0,
    spec: SyntheticSpec = SyntheticSpec(),
    workers: int = 1,
    progress: bool = True,
) -> GenerationReport:
    """Generate (or complete) the synthetic dataset under `root` and write splits/train.txt, val.txt.

    Scenes already on disk with the same seed and spec are kept; split files are written last, so
    an interrupted run leaves no split naming a missing scene.
    """
    from tqdm import tqdm

    if num_train < 0 or num_val < 0:
        raise ValueError(f"scene counts must be >= 0, got num_train={num_train}, num_val={num_val}")
    if spec.width % 14 or spec.height % 14:
        log.warning("synthetic size %dx%d is not a multiple of 14; samples will be resized", spec.width, spec.height)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(root, s, k, seed, spec) for s, n in (("train", num_train), ("val", num_val)) for k in range(n)]
    start, generated = time.perf_counter(), 0
    bar = tqdm(total=len(jobs), desc="synthetic scenes", unit="scene", disable=not progress)
    if workers > 1 and len(jobs) > 1:
        # spawn: open3d's thread pools do not survive fork reliably
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for _, made in pool.imap_unordered(_job, jobs):
                generated += made
                bar.update()
    else:
        for job in jobs:
            generated += _job(job)[1]
            bar.update()
    bar.close()
    splits = {s: [scene_id_of(s, k) for k in range(n)] for s, n in (("train", num_train), ("val", num_val))}
    for split, ids in splits.items():
        write_split(root, split, ids)
    seconds = time.perf_counter() - start
    log.info("synthetic data in %s: %d generated, %d cached, %.1f s", root, generated, len(jobs) - generated, seconds)
    return GenerationReport(splits, generated, len(jobs) - generated, seconds)
