"""COLMAP sparse model of a SceneResult: `colmap/sparse/0/{cameras,images,points3D}.txt` (+ `.bin` with pycolmap).

What COLMAP (and gsplat, nerfstudio's colmap loader, instant-ngp's colmap2nerf ...) read:
- cameras.txt: one PINHOLE camera per photo at its ORIGINAL size, `fx fy cx cy`. COLMAP puts the centre of
  the top-left pixel at (0.5, 0.5); our intrinsics put it at (0, 0), so cx, cy gain 0.5.
- images.txt: per photo `QW QX QY QZ TX TY TZ`, the world-to-camera rotation as a unit quaternion (w >= 0)
  and translation - exactly our OpenCV `cam_from_world` (COLMAP's camera axes are OpenCV's too) - then a
  line of its 2D observations `x y POINT3D_ID`.
- points3D.txt: the confidence-filtered points (at most `max_points`, a seeded random subset above that, as
  VGGT's demo_colmap does) with their photo colours. Each point was unprojected from one network pixel of
  one photo, so its track is that single observation: the point projected into that photo (reprojection
  error 0 by construction). Multi-view tracks would need a feature tracker and bundle adjustment, which
  this feed-forward export does not run.
Binary files are written by pycolmap itself from the text model when the optional `pycolmap` is installed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from segvggt.inference.result import SceneResult

logger = logging.getLogger(__name__)

MAX_POINTS = 100_000
SPARSE_DIR = Path("colmap") / "sparse" / "0"


def rotation_to_quaternion(R: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] -> unit quaternions [..., 4] (w, x, y, z) with w >= 0 (Hamilton, as COLMAP)."""
    R = np.asarray(R, np.float64)
    m00, m11, m22 = R[..., 0, 0], R[..., 1, 1], R[..., 2, 2]
    # Shepperd: start from the largest of the four squared components, stable for every rotation
    squares = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    big = squares.argmax(-1)
    q = np.empty(R.shape[:-2] + (4,))
    d = {  # (w, x, y, z) * 4 * component, for each choice of the largest component
        0: (squares[..., 0], R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]),
        1: (R[..., 2, 1] - R[..., 1, 2], squares[..., 1], R[..., 0, 1] + R[..., 1, 0], R[..., 0, 2] + R[..., 2, 0]),
        2: (R[..., 0, 2] - R[..., 2, 0], R[..., 0, 1] + R[..., 1, 0], squares[..., 2], R[..., 1, 2] + R[..., 2, 1]),
        3: (R[..., 1, 0] - R[..., 0, 1], R[..., 0, 2] + R[..., 2, 0], R[..., 1, 2] + R[..., 2, 1], squares[..., 3]),
    }
    for k, parts in d.items():
        sel = big == k
        scale = 0.5 / np.sqrt(np.maximum(squares[..., k], 1e-12))
        q[sel] = (np.stack(parts, -1) * scale[..., None])[sel]
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def colmap_intrinsics(K: np.ndarray) -> tuple[float, float, float, float]:
    """Our 3x3 intrinsics (pixel centres at integers) -> COLMAP PINHOLE params (fx, fy, cx, cy), centres at +0.5."""
    return float(K[0, 0]), float(K[1, 1]), float(K[0, 2]) + 0.5, float(K[1, 2]) + 0.5


def observations(result: SceneResult, keep: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """(point indices [M'] into result.points, their pixel in their source photo [M', 2] in COLMAP pixels)."""
    index = np.nonzero(keep)[0]
    if len(index) > max_points:
        index = np.sort(np.random.default_rng(0).choice(index, max_points, replace=False))
    views = result.views[index]
    R, t = result.cam_from_world[views, :, :3], result.cam_from_world[views, :, 3]
    p_cam = np.einsum("mij,mj->mi", R.astype(np.float64), result.points[index].astype(np.float64)) + t
    K = result.intrinsics[views].astype(np.float64)
    z = np.maximum(p_cam[:, 2], 1e-12)
    u = K[:, 0, 0] * p_cam[:, 0] / z + K[:, 0, 2] + 0.5
    v = K[:, 1, 1] * p_cam[:, 1] / z + K[:, 1, 2] + 0.5
    return index, np.stack([u, v], -1)


def write_colmap(result: SceneResult, out: Path, keep: np.ndarray, image_names: list[str],
                 max_points: int = MAX_POINTS) -> Path:
    """Write OUT/colmap/sparse/0/*.txt (and *.bin when pycolmap is installed); returns that folder.

    keep: [M] bool, the points to export (e.g. writers.confident_points); image_names: the file name of each
    photo inside the image folder COLMAP is pointed at (OUT/images/ from exports.write_photos).
    """
    folder = Path(out) / SPARSE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    S = result.num_views
    lines = ["# Camera list with one line of data per camera:", "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]",
             f"# Number of cameras: {S}"]
    for i in range(S):
        h, w = result.image_size(i)
        fx, fy, cx, cy = colmap_intrinsics(result.intrinsics[i])
        lines.append(f"{i + 1} PINHOLE {w} {h} {fx:.10g} {fy:.10g} {cx:.10g} {cy:.10g}")
    (folder / "cameras.txt").write_text("\n".join(lines) + "\n")

    index, uv = observations(result, keep, max_points)
    views = result.views[index]
    order = np.argsort(views, kind="stable")
    point2d_idx = np.empty(len(index), np.int64)  # position of each point's observation in its image's list
    starts = np.searchsorted(views[order], np.arange(S))
    point2d_idx[order] = np.arange(len(index)) - np.repeat(starts, np.bincount(views, minlength=S))
    quats = rotation_to_quaternion(result.cam_from_world[:, :, :3])
    lines = ["# Image list with two lines of data per image:",
             "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
             "#   POINTS2D[] as (X, Y, POINT3D_ID)", f"# Number of images: {S}"]
    for i in range(S):
        qw, qx, qy, qz = quats[i]
        tx, ty, tz = result.cam_from_world[i, :, 3].astype(np.float64)
        lines.append(f"{i + 1} {qw:.12g} {qx:.12g} {qy:.12g} {qz:.12g} {tx:.12g} {ty:.12g} {tz:.12g} {i + 1} {image_names[i]}")
        mine = order[starts[i]: starts[i + 1] if i + 1 < S else len(order)]
        lines.append(" ".join(f"{uv[m, 0]:.6f} {uv[m, 1]:.6f} {m + 1}" for m in mine))
    (folder / "images.txt").write_text("\n".join(lines) + "\n")

    pts, rgb = result.points[index].astype(np.float64), result.colors[index]
    lines = ["# 3D point list with one line of data per point:",
             "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)",
             f"# Number of points: {len(index)}"]
    lines += [f"{m + 1} {p[0]:.8g} {p[1]:.8g} {p[2]:.8g} {c[0]} {c[1]} {c[2]} 0 {views[m] + 1} {point2d_idx[m]}"
              for m, (p, c) in enumerate(zip(pts, rgb))]
    (folder / "points3D.txt").write_text("\n".join(lines) + "\n")
    _write_binary(folder)
    return folder


def _write_binary(folder: Path) -> bool:
    """cameras/images/points3D.bin through pycolmap (COLMAP's own reader and writer) when it is installed."""
    try:
        import pycolmap
    except ImportError:
        logger.info("pycolmap not installed: COLMAP text model only (pip install 'segvggt[colmap]' adds .bin files)")
        return False
    reconstruction = pycolmap.Reconstruction()
    reconstruction.read_text(str(folder))
    reconstruction.write_binary(str(folder))
    return True
