"""scene.glb (binary glTF, via trimesh) of a SceneResult, for any 3D viewer and the web app.

Nodes: `scene_points` (photo colours), `instance_points` (the labelled points in instance colours, a second
node so a viewer can toggle it), `cameras` (one frustum per photo: apex at the camera centre, the image
rectangle at `frustum depth`, a triangle on its top edge marking "up"), `instance_boxes` (axis-aligned box
of each instance, in its colour).
glTF is y-up with the camera looking along -z, so every coordinate written is our world (the first camera's
OpenCV frame: x right, y down, z forward) with y and z negated (GLB_FROM_WORLD): the scene opens upright,
seen from behind the first camera.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segvggt.inference.result import SceneResult

GLB_FROM_WORLD = np.diag([1.0, -1.0, -1.0])
MAX_POINTS = 1_000_000
BOX_EDGES = np.array([(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7)])


def to_glb(points: np.ndarray) -> np.ndarray:
    """World points [..., 3] -> glTF coordinates [..., 3] (y and z negated)."""
    return np.asarray(points, np.float64) @ GLB_FROM_WORLD.T


def scene_extent(points: np.ndarray) -> float:
    """Diagonal of the 2nd-98th percentile box of the points (robust to a few far-away points); 1 if empty."""
    if len(points) == 0:
        return 1.0
    lo, hi = np.percentile(points, [2, 98], axis=0)
    return float(np.linalg.norm(hi - lo)) or 1.0


def frustum_segments(cam_from_world: np.ndarray, intrinsics: np.ndarray, hw: tuple[int, int], depth: float) -> np.ndarray:
    """Line segments [11, 2, 3] (world) of one camera: 4 apex-corner edges, the image rectangle, an up triangle."""
    h, w = hw
    K_inv = np.linalg.inv(intrinsics.astype(np.float64))
    corners_px = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])  # image edges
    tip_px = np.array([[w / 2 - 0.5, -0.5 - 0.25 * h]])  # above the top edge (y down): the "up" marker
    rays = np.concatenate([corners_px, tip_px], 0)
    cam = (K_inv @ np.concatenate([rays, np.ones((5, 1))], 1).T).T
    cam = cam / cam[:, 2:3] * depth
    R, t = cam_from_world[:, :3].astype(np.float64), cam_from_world[:, 3].astype(np.float64)
    world = (cam - t) @ R  # R^T (p - t)
    centre = -R.T @ t
    c = world
    segs = [(centre, c[k]) for k in range(4)] + [(c[k], c[(k + 1) % 4]) for k in range(4)]
    segs += [(c[0], c[4]), (c[4], c[1]), (c[0], c[1])]
    return np.asarray(segs)


def box_segments(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The 12 edges [12, 2, 3] of the axis-aligned box [lo, hi]."""
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    return corners[BOX_EDGES]


def _lines(segments: np.ndarray, colors: np.ndarray):
    """trimesh Path3D of segments [L, 2, 3] (glTF coordinates) with one RGBA colour [L, 4] per segment."""
    from trimesh.path import Path3D
    from trimesh.path.entities import Line

    entities = [Line(points=[2 * k, 2 * k + 1]) for k in range(len(segments))]
    return Path3D(entities=entities, vertices=segments.reshape(-1, 3), colors=colors, process=False)


def _subsample(n: int, max_points: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, max_points, replace=False))


def build_glb_scene(result: SceneResult, keep: np.ndarray, max_points: int = MAX_POINTS,
                    highlight: np.ndarray | None = None):
    """The trimesh.Scene written by write_glb. highlight: optional [M', 3] world points (e.g. a prompt's
    answer) added as a `highlight` node in bright magenta."""
    import trimesh
    from matplotlib import colormaps

    from segvggt.inference.postprocess import instance_boxes
    from segvggt.inference.writers import instance_palette

    scene = trimesh.Scene()
    pts, ids = result.points[keep], result.instance_ids[keep]
    pick = _subsample(len(pts), max_points)
    palette = instance_palette(len(result.instances))
    alpha = np.full((len(pick), 1), 255, np.uint8)
    if len(pick):
        cloud = trimesh.PointCloud(to_glb(pts[pick]), colors=np.concatenate([result.colors[keep][pick], alpha], 1))
        scene.add_geometry(cloud, node_name="scene_points", geom_name="scene_points")
    labelled = pick[ids[pick] > 0]
    if len(labelled):
        colors = np.concatenate([palette[ids[labelled]], np.full((len(labelled), 1), 255, np.uint8)], 1)
        scene.add_geometry(trimesh.PointCloud(to_glb(pts[labelled]), colors=colors),
                           node_name="instance_points", geom_name="instance_points")
    depth = 0.05 * scene_extent(pts)
    segs, cols = [], []
    cmap = colormaps["viridis"]
    for i in range(result.num_views):
        s = frustum_segments(result.cam_from_world[i], result.intrinsics[i], result.image_size(i), depth)
        rgba = (np.asarray(cmap(i / max(result.num_views - 1, 1))) * 255).astype(np.uint8)
        segs.append(s)
        cols.append(np.tile(rgba, (len(s), 1)))
    scene.add_geometry(_lines(to_glb(np.concatenate(segs)), np.concatenate(cols)), node_name="cameras", geom_name="cameras")
    if result.instances and len(pts):
        import torch

        counts, lo, hi = instance_boxes(torch.from_numpy(pts), torch.from_numpy(ids), len(result.instances))
        segs, cols = [], []
        for n in range(len(result.instances)):
            if int(counts[n]) > 0:
                segs.append(box_segments(lo[n].numpy(), hi[n].numpy()))
                cols.append(np.tile(np.append(palette[n + 1], 255), (12, 1)).astype(np.uint8))
        if segs:
            scene.add_geometry(_lines(to_glb(np.concatenate(segs)), np.concatenate(cols)),
                               node_name="instance_boxes", geom_name="instance_boxes")
    if highlight is not None and len(highlight):
        colors = np.tile(np.array([255, 0, 200, 255], np.uint8), (len(highlight), 1))
        scene.add_geometry(trimesh.PointCloud(to_glb(highlight), colors=colors), node_name="highlight", geom_name="highlight")
    return scene


def write_glb(result: SceneResult, path: Path, keep: np.ndarray, max_points: int = MAX_POINTS,
              highlight: np.ndarray | None = None) -> Path:
    """Write the GLB (see the module docstring); keep: [M] bool points to include. Returns path."""
    path = Path(path)
    path.write_bytes(build_glb_scene(result, keep, max_points, highlight).export(file_type="glb"))
    return path
