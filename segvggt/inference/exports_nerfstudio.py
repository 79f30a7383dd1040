"""nerfstudio's transforms.json for a SceneResult (read by `ns-train nerfacto/splatfacto --data OUT`).

Conventions nerfstudio uses (its data-conventions page and its `nerfstudio` data parser):
- `transform_matrix` is camera-to-world [4, 4] with OpenGL/Blender camera axes: x right, y UP, z BACK
  (the camera looks along -z). Ours are OpenCV (y down, z forward), so c2w_gl = inv(cam_from_world) @
  diag(1, -1, -1, 1): the camera's y and z columns change sign, its centre does not. The world frame is
  kept as it is (the first camera's OpenCV frame); nerfstudio re-orients and re-centres it when it loads.
- per-frame intrinsics `fl_x fl_y cx cy w h` in pixels of the image file; nerfstudio casts rays through
  pixel centres at (i + 0.5), so cx, cy are ours + 0.5 (as in COLMAP).
- `ply_file_path` points at scene.ply (positions + colours) to seed splatfacto.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from segvggt.inference.result import SceneResult

OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])


def camera_to_world_opengl(cam_from_world: np.ndarray) -> np.ndarray:
    """OpenCV cam_from_world [S, 3, 4] -> OpenGL camera-to-world [S, 4, 4]."""
    S = cam_from_world.shape[0]
    w2c = np.tile(np.eye(4), (S, 1, 1))
    w2c[:, :3, :4] = cam_from_world
    return np.linalg.inv(w2c) @ OPENCV_TO_OPENGL


def write_nerfstudio(result: SceneResult, out: Path, image_names: list[str], ply_file: str | None = "scene.ply") -> Path:
    """OUT/transforms.json, frames pointing at images/<file>; returns its path."""
    c2w = camera_to_world_opengl(result.cam_from_world.astype(np.float64))
    frames = []
    for i, name in enumerate(image_names):
        h, w = result.image_size(i)
        K = result.intrinsics[i].astype(np.float64)
        frames.append({
            "file_path": f"images/{name}", "transform_matrix": c2w[i].tolist(),
            "fl_x": K[0, 0], "fl_y": K[1, 1], "cx": K[0, 2] + 0.5, "cy": K[1, 2] + 0.5, "w": int(w), "h": int(h),
        })  # fmt: skip
    data = {"camera_model": "OPENCV", "units": result.units, "frames": frames}
    if ply_file is not None:
        data["ply_file_path"] = ply_file
    path = Path(out) / "transforms.json"
    path.write_text(json.dumps(data, indent=2))
    return path
