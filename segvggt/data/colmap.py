"""Camera poses of ScanNet++ captures: COLMAP text models and nerfstudio `transforms*.json`.

COLMAP `images.txt`: per image two lines, `IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME` (world-to-
camera rotation quaternion, w first, and translation, OpenCV axes) and a POINTS2D line (may be
empty). `cameras.txt`: `CAMERA_ID MODEL WIDTH HEIGHT PARAMS...`; only the pinhole part of the
model is used (distortion ignored: ScanNet++ iPhone frames are treated as pinhole; DSLR frames take
the undistorted intrinsics of `transforms_undistorted.json` instead).

nerfstudio: `transform_matrix` is camera-to-world in OpenGL camera axes (x right, y up, z backward)
*and in another world frame*. The ScanNet++ toolkit (`common/utils/nerfstudio.py`, as older
nerfstudio's `colmap_to_json`) writes, from COLMAP's OpenCV camera-to-world C:
`T = P @ C @ diag(1, -1, -1, 1)` with P = rows [1, 0, 2] of the identity and row 2 negated (a
proper rotation, P = P^-1). So C = P @ T @ diag(1, -1, -1, 1). A file that records nerfstudio's
own `applied_transform` (newer nerfstudio) is undone with that matrix instead of P.
Intrinsics `fl_x fl_y cx cy w h` at the top level or per frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segvggt.data.errors import DataError


@dataclass(frozen=True)
class CameraFrame:
    """One posed image: name (file stem), file (path as written in the pose file), cam_from_world [3, 4],
    intrinsics [3, 3], width, height."""

    name: str
    file: str
    cam_from_world: np.ndarray
    intrinsics: np.ndarray
    width: int
    height: int


def quaternion_to_rotation(qw: float, qx: float, qy: float, qz: float) -> np.ndarray:
    """Unit quaternion (w first) -> [3, 3] rotation."""
    q = np.array([qw, qx, qy, qz], dtype=np.float64)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def _pinhole(model: str, params: list[float], path: Path) -> tuple[float, float, float, float]:
    if model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "SIMPLE_RADIAL_FISHEYE", "RADIAL_FISHEYE"):
        return params[0], params[0], params[1], params[2]
    if model in ("PINHOLE", "OPENCV", "OPENCV_FISHEYE", "FULL_OPENCV", "FOV", "THIN_PRISM_FISHEYE"):
        return params[0], params[1], params[2], params[3]
    raise DataError(f"{path}: unsupported COLMAP camera model {model}")


def read_colmap_text(folder: str | Path) -> list[CameraFrame]:
    """`folder/cameras.txt` + `folder/images.txt` -> frames sorted by name."""
    folder = Path(folder)
    cams = {}
    for p in (folder / "cameras.txt", folder / "images.txt"):
        if not p.is_file():
            raise DataError(f"missing COLMAP file {p}")
    try:
        for line in (folder / "cameras.txt").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                w = line.split()
                fx, fy, cx, cy = _pinhole(w[1], [float(v) for v in w[4:]], folder / "cameras.txt")
                cams[int(w[0])] = (np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]), int(w[2]), int(w[3]))
        frames = []
        lines = [ln for ln in (folder / "images.txt").read_text().splitlines() if not ln.startswith("#")]
        k = 0
        while k < len(lines):
            w = lines[k].split()
            if not w:  # stray blank line between image records
                k += 1
                continue
            qw, qx, qy, qz, tx, ty, tz = (float(v) for v in w[1:8])
            cam = int(w[8])
            name = " ".join(w[9:])
            if cam not in cams:
                raise DataError(f"{folder / 'images.txt'}: image {name} uses camera {cam} missing from cameras.txt")
            K, width, height = cams[cam]
            E = np.concatenate([quaternion_to_rotation(qw, qx, qy, qz), [[tx], [ty], [tz]]], axis=1)
            frames.append(CameraFrame(Path(name).stem, name, E, K.copy(), width, height))
            k += 2  # skip the POINTS2D line
    except (ValueError, IndexError) as err:
        raise DataError(f"malformed COLMAP text model in {folder} ({err})") from err
    return sorted(frames, key=lambda f: f.name)


# world rows of the toolkit's transforms.json from COLMAP's world: swap x and y, negate z
SCANNETPP_NERFSTUDIO_WORLD = np.array([[0, 1.0, 0, 0], [1.0, 0, 0, 0], [0, 0, -1.0, 0], [0, 0, 0, 1.0]])
OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])  # camera axes: y and z flip (its own inverse)


def _nerfstudio_world(meta: dict, path: Path) -> np.ndarray:
    """[4, 4] nerfstudio world from COLMAP world: the file's `applied_transform`, else the toolkit's P."""
    if "applied_transform" not in meta:
        return SCANNETPP_NERFSTUDIO_WORLD
    A = np.asarray(meta["applied_transform"], dtype=np.float64)
    if A.shape == (3, 4):
        A = np.concatenate([A, [[0, 0, 0, 1.0]]])
    if A.shape != (4, 4) or not np.all(np.isfinite(A)):
        raise DataError(f"{path}: applied_transform must be a finite 3x4 or 4x4 matrix")
    return A


def read_nerfstudio(path: str | Path) -> list[CameraFrame]:
    """nerfstudio `transforms*.json` (frames and test_frames; `is_bad` frames dropped) -> frames sorted by
    name, with cam_from_world in COLMAP's world and OpenCV axes (the toolkit's conversion undone)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing nerfstudio poses {path}")
    try:
        meta = json.loads(path.read_text())
        world_inv = np.linalg.inv(_nerfstudio_world(meta, path))
        frames = []
        for fr in meta.get("frames", []) + meta.get("test_frames", []):
            if fr.get("is_bad", False):
                continue
            get = lambda k: float(fr.get(k, meta.get(k)))  # noqa: E731  per-frame intrinsics override the shared ones
            K = np.array([[get("fl_x"), 0, get("cx")], [0, get("fl_y"), get("cy")], [0, 0, 1.0]])
            c2w = np.asarray(fr["transform_matrix"], dtype=np.float64)
            if c2w.shape == (3, 4):
                c2w = np.concatenate([c2w, [[0, 0, 0, 1.0]]])
            c2w = world_inv @ c2w @ OPENGL_FROM_OPENCV  # nerfstudio world -> COLMAP world, OpenGL -> OpenCV axes
            E = np.linalg.inv(c2w)[:3] if np.all(np.isfinite(c2w)) else np.full((3, 4), np.nan)
            f = fr["file_path"]
            frames.append(CameraFrame(Path(f).stem, f, E, K, int(get("w")), int(get("h"))))
    except (KeyError, TypeError, ValueError, AttributeError, json.JSONDecodeError, np.linalg.LinAlgError) as err:
        raise DataError(f"malformed nerfstudio transforms {path} ({err})") from err
    return sorted(frames, key=lambda f: f.name)
