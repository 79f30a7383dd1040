"""ScanNet++ raw scenes -> prepared scenes (PROTOCOL (e)).

Point GT follows the toolkit (`semantic/transforms/mesh.py` GetLabelsOnVertices +
`semantic/prep/prepare_semantic_gt.py`, checked in code): a segGroup's label is its 0-based index in
the top-100 class list (groups with other labels are ignored); walking groups in order, a vertex
collects at most 3 (label, instance) entries, and keeps the entry of the smallest group (vertex
count, first on ties); the instance id is the group's *index* in segGroups, kept only for the 84
instance classes; GT = label * 1000 + instance, and 0 where the instance id is <= 0 (so the first
segGroup never appears: the toolkit's quirk, reproduced).
`scans/mesh_aligned_0.05_mask.txt` (vertex indices excluded from evaluation) is stored as
`<scene>/excluded_vertices.npy` [E] int64; point_gt itself keeps every vertex (evaluation removes
these vertices from GT and predictions). 2D instance masks are ray cast from the mesh; depth comes
from iPhone depth PNGs (uint16 mm) when present, else from the ray cast.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segvggt.atomic import atomic_path
from segvggt.data.classes import benchmark_classes
from segvggt.data.colmap import CameraFrame, read_colmap_text, read_nerfstudio
from segvggt.data.errors import DataError
from segvggt.data.ply import read_ply
from segvggt.data.prepared import read_image, write_scene
from segvggt.data.raycast import MeshRaycaster, camera_resample, scaled_intrinsics
from segvggt.data.scannet import prepare_many

log = logging.getLogger(__name__)
RAW_HINT = "check the ScanNet++ download of this scene"
IGNORE = -100
MAX_LABELS_PER_VERTEX = 3
EXCLUDED_FILE = "excluded_vertices.npy"


def scannetpp_point_gt(seg_indices: np.ndarray, seg_groups: list[dict]) -> np.ndarray:
    """Toolkit GT per vertex: seg_indices [M] -> [M] int64 label_index * 1000 + instance (0 = none)."""
    classes = benchmark_classes("scannetpp")
    index_of = {n: i for i, n in enumerate(classes.label_names)}
    instance_names = set(classes.instance_names)
    seg = np.asarray(seg_indices, dtype=np.int64)
    M = len(seg)
    labels = np.full((M, MAX_LABELS_PER_VERTEX), IGNORE, np.int64)
    insts = np.full((M, MAX_LABELS_PER_VERTEX), IGNORE, np.int64)
    sizes = np.full((M, MAX_LABELS_PER_VERTEX), np.inf)
    used = np.zeros(M, np.int64)
    for ndx, g in enumerate(seg_groups):
        lab = index_of.get(g.get("label"), IGNORE)
        if lab == IGNORE:
            continue
        mask = np.isin(seg, np.asarray(g.get("segments", []), dtype=np.int64)) & (used < MAX_LABELS_PER_VERTEX)
        n = int(mask.sum())
        if n == 0:
            continue
        rows, pos = np.nonzero(mask)[0], used[mask]
        labels[rows, pos] = lab
        if g.get("label") in instance_names:
            insts[rows, pos] = ndx
        sizes[rows, pos] = n
        used[mask] += 1
    pick = np.argmin(sizes, axis=1)  # first entry for single-label vertices (the rest are inf)
    lab = labels[np.arange(M), pick]
    inst = insts[np.arange(M), pick]
    gt = lab * 1000 + inst
    gt[inst <= 0] = 0
    return gt


@dataclass(frozen=True)
class ScanNetppPrepConfig:
    source: str = "iphone"  # or "dslr"
    frame_skip: int = 10
    width: int = 640  # height follows the image aspect ratio unless given
    height: int | None = None


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"missing {path}; check the ScanNet++ download")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"unreadable JSON {path} ({err})") from err


def _frames(scene_dir: Path, source: str) -> tuple[list[CameraFrame], Path, Path | None]:
    """-> (frames, image folder, depth folder or None)."""
    if source == "iphone":
        ip = scene_dir / "iphone"
        if (ip / "colmap" / "images.txt").is_file():
            frames = read_colmap_text(ip / "colmap")
        else:
            frames = read_nerfstudio(ip / "nerfstudio" / "transforms.json")
        return frames, ip / "rgb", (ip / "depth") if (ip / "depth").is_dir() else None
    if source == "dslr":
        ds = scene_dir / "dslr"
        return read_nerfstudio(ds / "nerfstudio" / "transforms_undistorted.json"), ds / "undistorted_images", None
    raise ValueError(f"source must be iphone or dslr, not {source!r}")


def prepare_scannetpp_scene(scene_dir: Path, out: Path, cfg: ScanNetppPrepConfig) -> dict:
    sid = scene_dir.name
    scans = scene_dir / "scans"
    mesh = read_ply(scans / "mesh_aligned_0.05.ply")
    seg = np.asarray(_load_json(scans / "segments.json").get("segIndices", []), dtype=np.int64)
    if len(seg) != len(mesh.vertices):
        raise DataError(f"scene {sid}: segments.json has {len(seg)} segIndices, the mesh {len(mesh.vertices)} vertices")
    groups = _load_json(scans / "segments_anno.json").get("segGroups")
    if groups is None:
        raise DataError(f"scene {sid}: {scans / 'segments_anno.json'} has no segGroups")
    point_gt = scannetpp_point_gt(seg, groups)
    mask_file = scans / "mesh_aligned_0.05_mask.txt"
    excluded = np.zeros(0, np.int64)
    if mask_file.is_file() and mask_file.stat().st_size:
        excluded = np.atleast_1d(np.loadtxt(mask_file, dtype=np.int64))
    instance_labels = {int(i): int(point_gt[point_gt % 1000 == i][0] // 1000)
                       for i in np.unique(point_gt[point_gt > 0] % 1000)}  # fmt: skip
    if not instance_labels:
        raise DataError(f"scene {sid}: no annotated object of the 84 instance classes")
    frames, img_dir, depth_dir = _frames(scene_dir, cfg.source)
    frames = frames[:: cfg.frame_skip]
    raycaster = MeshRaycaster(mesh.vertices, mesh.faces)
    stats = {"frames_skipped_nonfinite_pose": 0, "excluded_vertices": int(len(excluded)), "source": cfg.source}
    names, colors, depths, masks, poses, Ks = [], [], [], [], [], []
    for fr in frames:
        if not np.all(np.isfinite(fr.cam_from_world)):
            stats["frames_skipped_nonfinite_pose"] += 1
            continue
        W = cfg.width
        H = cfg.height or int(round(W * fr.height / fr.width))
        K_t = scaled_intrinsics(fr.intrinsics, W / fr.width, H / fr.height)
        img = read_image(img_dir / Path(fr.file).name, "colour", RAW_HINT)
        if img.shape[:2] != (fr.height, fr.width):  # poses written for another resolution: rescale
            K_img = scaled_intrinsics(fr.intrinsics, img.shape[1] / fr.width, img.shape[0] / fr.height)
        else:
            K_img = fr.intrinsics
        img = img[..., :3] if img.ndim == 3 else np.repeat(img[..., None], 3, -1)
        color = camera_resample(img, K_img, K_t, (H, W), order=1)
        hit = raycaster.cast(fr.cam_from_world, K_t, H, W)
        inst = np.where(hit.vertex >= 0, point_gt[np.maximum(hit.vertex, 0)] % 1000, 0)
        depth = hit.depth
        dpath = depth_dir / f"{fr.name}.png" if depth_dir is not None else None
        if dpath is not None and dpath.is_file():
            d = read_image(dpath, "depth", RAW_HINT).astype(np.float32) / 1000.0
            K_d = scaled_intrinsics(fr.intrinsics, d.shape[1] / fr.width, d.shape[0] / fr.height)
            depth = camera_resample(d, K_d, K_t, (H, W), order=0)
        names.append(fr.name)
        colors.append(color)
        depths.append(depth)
        masks.append(inst)
        poses.append(fr.cam_from_world)
        Ks.append(K_t)
    if not names:
        raise DataError(f"scene {sid}: no frame with a finite pose")
    path = write_scene(
        out, sid, benchmark="scannetpp", source=f"tools/prepare_scannetpp.py ({cfg.source})", frame_names=names,
        colors=colors, depths=depths, instances=masks, cam_from_world=np.stack(poses), intrinsics=np.stack(Ks),
        instance_labels=instance_labels, points=mesh.vertices, superpoints=seg, point_gt=point_gt, stats=stats,
    )  # fmt: skip
    with atomic_path(path / EXCLUDED_FILE, suffix=".npy") as tmp:
        np.save(tmp, excluded)
    return stats


def prepare_scannetpp(
    raw: str | Path, out: str | Path, cfg: ScanNetppPrepConfig, *, scenes: list[str] | None = None,
    split: str = "custom", overwrite: bool = False, skip_bad: bool = False,
) -> dict:
    """Prepare RAW/data/<scene>/ folders; scenes listed in RAW/splits/nvs_sem_{train,val}.txt get that split."""
    raw, out = Path(raw), Path(out)
    data = raw / "data"
    if not data.is_dir():
        raise DataError(f"no {data}; expected the ScanNet++ layout RAW/data/<scene>/scans/")
    if cfg.frame_skip < 1:
        raise ValueError(f"frame_skip must be >= 1, got {cfg.frame_skip}")
    ids = scenes or sorted(d.name for d in data.iterdir() if (d / "scans").is_dir())
    missing = [s for s in ids if not (data / s).is_dir()]
    if missing:
        raise DataError(f"scenes not found under {data}: {', '.join(missing[:5])}")
    official = {}
    for name in ("nvs_sem_train", "nvs_sem_val", "sem_test"):
        f = raw / "splits" / f"{name}.txt"
        if f.is_file():
            official.update({s: name.replace("nvs_sem_", "").replace("sem_", "") for s in f.read_text().split()})
    jobs = [(s, (lambda s=s: prepare_scannetpp_scene(data / s, out, cfg))) for s in ids]
    return prepare_many(jobs, out, "scannetpp", lambda s: official.get(s, split), overwrite, skip_bad,
                        desc="ScanNet++ scenes", required_files=(EXCLUDED_FILE,))  # fmt: skip
