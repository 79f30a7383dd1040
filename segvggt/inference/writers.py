"""Files written for users: cameras.json, depth maps, instance masks, instances.json, PLY point clouds and
prompt answers. Every writer takes the output folder; the caller makes that folder temporary and renames it
when all files are complete (see pipeline.py).

Conventions on disk: cameras are OpenCV `cam_from_world` 3x4 with intrinsics in pixels of the ORIGINAL
photo; depth/<name>.npy float32 depth in the scene's units (cameras.json "units": VGGT's scale, not metres,
unless rescaled with --scale / --scale-factor; 0 = not seen) at the original resolution;
masks/<name>.png uint16 instance id per pixel (0 = none); instance ids match instances.json and the
`instance` attribute of the PLY files.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from segvggt.inference.postprocess import confidence_threshold, instance_boxes
from segvggt.inference.result import PromptResult, SceneResult

logger = logging.getLogger(__name__)


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2))


def write_cameras(result: SceneResult, out: Path) -> None:
    """cameras.json: per photo its file, size and OpenCV cam_from_world / intrinsics at original resolution."""
    frames = []
    for i, (name, record) in enumerate(zip(result.names, result.records)):
        h, w = record.original_hw
        frames.append({
            "name": name, "file": Path(record.path).name, "width": int(w), "height": int(h),
            "cam_from_world": result.cam_from_world[i].astype(float).tolist(),
            "intrinsics": result.intrinsics[i].astype(float).tolist(),
        })  # fmt: skip
    _write_json(out / "cameras.json", {
        "convention": "OpenCV (x right, y down, z forward); x_cam = R x_world + t with cam_from_world = [R | t]; "
                      "intrinsics in pixels of the original photo, pixel centres at integer coordinates",
        "units": result.units,
        "frames": frames,
    })  # fmt: skip


def colorize_depth(depth: np.ndarray) -> np.ndarray:
    """[h, w] depth (0 = invalid) -> [h, w, 3] uint8 turbo colours, near = warm, scaled by the 2-98 percentiles."""
    from matplotlib import colormaps

    valid = depth > 0
    out = np.zeros(depth.shape + (3,), np.uint8)
    if not valid.any():
        return out
    lo, hi = np.percentile(depth[valid], [2, 98])
    scaled = np.clip((depth - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = (colormaps["turbo"](1.0 - scaled)[..., :3] * 255).astype(np.uint8)
    out[valid] = rgb[valid]
    return out


def write_view_maps(result: SceneResult, out: Path, view: int) -> tuple[np.ndarray, np.ndarray]:
    """depth/<name>.npy, depth/<name>.png, masks/<name>.png for one view; returns (depth, instance ids)."""
    from PIL import Image

    name = result.names[view]
    depth = result.depth(view)
    ids = result.instance_map(view)
    (out / "depth").mkdir(exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    np.save(out / "depth" / f"{name}.npy", depth.astype(np.float32))
    Image.fromarray(colorize_depth(depth)).save(out / "depth" / f"{name}.png")
    Image.fromarray(ids.astype(np.uint16)).save(out / "masks" / f"{name}.png")
    return depth, ids


def confident_points(result: SceneResult, conf_percentile: float) -> np.ndarray:
    """[M] bool: points whose confidence is at or above the `conf_percentile`-th percentile."""
    import torch

    threshold = confidence_threshold(torch.from_numpy(result.confidence), conf_percentile)
    return result.confidence >= threshold


def write_instances_json(result: SceneResult, out: Path, keep: np.ndarray) -> list[dict]:
    """instances.json: id, class, score, point count and axis-aligned box of the confident points."""
    import torch

    N = len(result.instances)
    counts, lo, hi = instance_boxes(torch.from_numpy(result.points[keep]), torch.from_numpy(result.instance_ids[keep]), N)
    rows = []
    for n, inst in enumerate(result.instances):
        rows.append({
            "id": inst.id, "class_name": inst.class_name, "class_index": inst.class_index, "label_id": inst.label_id,
            "score": round(inst.score, 6), "num_points": int(counts[n]),
            "box_min": None if int(counts[n]) == 0 else lo[n].tolist(),
            "box_max": None if int(counts[n]) == 0 else hi[n].tolist(),
            "views": [result.names[s] for s in np.nonzero(inst.pixels_per_view)[0]],
        })  # fmt: skip
    _write_json(out / "instances.json", {"message": result.message, "instances": rows})
    return rows


def instance_palette(num: int) -> np.ndarray:
    """[num + 1, 3] uint8 colours; 0 (no instance) is grey, the others are saturated, well separated hues
    (matplotlib's tab10, Set1 and Dark2 without their greys: 24 colours, then repeated)."""
    from matplotlib import colormaps

    palette = np.full((num + 1, 3), 128, np.uint8)
    if num:
        colours = [colormaps["tab10"](i)[:3] for i in range(10) if i != 7]
        colours += [colormaps["Set1"](i)[:3] for i in range(8)] + [colormaps["Dark2"](i)[:3] for i in range(7)]
        table = (np.asarray(colours) * 255).round().astype(np.uint8)
        palette[1:] = table[np.arange(num) % len(table)]
    return palette


_EMPTY_PLY = (
    "ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\nproperty float z\n"
    "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty int instance\n"
    "property float confidence\nend_header\n"
)


def write_point_cloud(path: Path, points: np.ndarray, colors: np.ndarray, instance: np.ndarray, confidence: np.ndarray) -> None:
    """PLY via open3d's tensor PointCloud: positions, colours, and `instance` (int32) / `confidence` (float32)
    as custom per-point attributes."""
    import open3d as o3d

    if len(points) == 0:  # open3d refuses to write an empty cloud; an empty PLY is still a valid answer
        path.write_text(_EMPTY_PLY)
        return
    pcd = o3d.t.geometry.PointCloud(o3d.core.Tensor(np.ascontiguousarray(points, np.float32)))
    pcd.point.colors = o3d.core.Tensor(np.ascontiguousarray(colors, np.uint8))  # uchar red/green/blue in the PLY
    pcd.point["instance"] = o3d.core.Tensor(np.ascontiguousarray(instance, np.int32).reshape(-1, 1))
    pcd.point["confidence"] = o3d.core.Tensor(np.ascontiguousarray(confidence, np.float32).reshape(-1, 1))
    if not o3d.t.io.write_point_cloud(str(path), pcd, write_ascii=False):
        raise OSError(f"open3d could not write {path}")


def write_point_clouds(result: SceneResult, out: Path, keep: np.ndarray) -> int:
    """scene.ply (photo colours) and instances.ply (instance colours, labelled points only); returns scene point count."""
    pts, ids, conf = result.points[keep], result.instance_ids[keep], result.confidence[keep]
    write_point_cloud(out / "scene.ply", pts, result.colors[keep], ids, conf)
    labelled = ids > 0
    palette = instance_palette(len(result.instances))
    write_point_cloud(out / "instances.ply", pts[labelled], palette[ids[labelled]], ids[labelled], conf[labelled])
    return int(keep.sum())


def write_prompt(result: PromptResult, scene: SceneResult, out: Path, index: int) -> None:
    """prompts/<index>/<name>.png (0 / 255 masks at original resolution) and prompts/<index>/prompt.json."""
    from PIL import Image

    folder = out / "prompts" / str(index)
    folder.mkdir(parents=True, exist_ok=True)
    for view, name in enumerate(scene.names):
        Image.fromarray(result.mask(view).astype(np.uint8) * 255).save(folder / f"{name}.png")
    pts = result.points
    _write_json(folder / "prompt.json", {
        "clicks": [{"frame": int(f), "image": scene.names[int(f)], "x": float(x), "y": float(y), "positive": bool(p)}
                   for f, x, y, p in result.clicks],
        "score": round(result.score, 6),
        "units": scene.units,
        "num_points": int(pts.shape[0]),
        "box_min": pts.min(0).tolist() if len(pts) else None,
        "box_max": pts.max(0).tolist() if len(pts) else None,
        "pixels_per_view": {scene.names[s]: int(c) for s, c in enumerate(result.pixels_per_view)},
    })  # fmt: skip
