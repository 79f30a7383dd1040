"""ScanNet++ raw scenes -> prepared scenes (PROTOCOL (e)).

Point GT follows the official toolkit, benchmark label mapping included (`scannetpp_labels.py`).
`scans/mesh_aligned_0.05_mask.txt` (vertex indices excluded from evaluation) is stored as
`<scene>/excluded_vertices.npy` [E] int64; point_gt itself keeps every vertex. 2D instance masks
are ray cast from the mesh; depth comes from iPhone depth PNGs (uint16 mm) when present, else from
the ray cast.

Frames and poses:
- iPhone: `iphone/rgb/`, poses from `iphone/colmap/images.txt` (else `iphone/nerfstudio/transforms.json`
  with the toolkit's world convention undone, see `colmap.py`), depth from `iphone/depth/`.
- DSLR: the undistorted images, `dslr/resized_undistorted_images/` (the release's name) or
  `dslr/undistorted_images/` (what the toolkit's `dslr/undistort.py` writes by default); their
  pinhole intrinsics and frame list from `dslr/nerfstudio/transforms_undistorted.json`; poses from
  `dslr/colmap/images.txt` (undistortion keeps the camera pose; COLMAP is in the mesh's world),
  else from that json with the world convention undone.
`segments.json` of the current release has one segment per vertex (toolkit issue #48): detected and
reported; the superpoint vote of the evaluation then changes nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from segvggt.atomic import atomic_path
from segvggt.data.colmap import CameraFrame, read_colmap_text, read_nerfstudio
from segvggt.data.errors import DataError
from segvggt.data.ply import read_ply
from segvggt.data.prepared import read_image, write_scene
from segvggt.data.raycast import MeshRaycaster, camera_resample, scaled_intrinsics
from segvggt.data.scannet import prepare_many
from segvggt.data.scannetpp_labels import (
    MAPPING_FILE, BenchmarkMapping, check_class_lists, group_labels, read_benchmark_mapping, scannetpp_point_gt,
)  # fmt: skip

__all__ = ["EXCLUDED_FILE", "ScanNetppPrepConfig", "prepare_scannetpp", "prepare_scannetpp_scene", "scannetpp_point_gt"]

log = logging.getLogger(__name__)
RAW_HINT = "check the ScanNet++ download of this scene"
EXCLUDED_FILE = "excluded_vertices.npy"
DSLR_IMAGE_DIRS = ("resized_undistorted_images", "undistorted_images")  # release name first
DSLR_TRANSFORMS = Path("nerfstudio") / "transforms_undistorted.json"
SCAN_FILES = ("mesh_aligned_0.05.ply", "segments.json", "segments_anno.json")


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


def _dslr_image_dir(ds: Path) -> Path | None:
    return next((ds / d for d in DSLR_IMAGE_DIRS if (ds / d).is_dir()), None)


def check_scene_layout(scene_dir: Path, source: str) -> None:
    """Every file and folder `prepare_scannetpp_scene` needs is there, else one DataError naming it."""
    sid, scans = scene_dir.name, scene_dir / "scans"
    for name in SCAN_FILES:
        if not (scans / name).is_file():
            raise DataError(f"scene {sid}: missing {scans / name}; download the scene's scans (mesh and annotation)")
    if source == "iphone":
        ip = scene_dir / "iphone"
        if not (ip / "rgb").is_dir():
            raise DataError(f"scene {sid}: no {ip / 'rgb'}; extract the frames with the toolkit's "
                            "iphone/prepare_iphone_data.py (extract_rgb) or use --source dslr")  # fmt: skip
        if not ((ip / "colmap" / "images.txt").is_file() or (ip / "nerfstudio" / "transforms.json").is_file()):
            raise DataError(f"scene {sid}: no iPhone poses ({ip / 'colmap' / 'images.txt'} or "
                            f"{ip / 'nerfstudio' / 'transforms.json'}); download the iPhone data")  # fmt: skip
    elif source == "dslr":
        ds = scene_dir / "dslr"
        if _dslr_image_dir(ds) is None:
            raise DataError(f"scene {sid}: no {ds / DSLR_IMAGE_DIRS[0]} or {ds / DSLR_IMAGE_DIRS[1]}; download the "
                            "undistorted DSLR images or run the toolkit's dslr/undistort.py")  # fmt: skip
        if not (ds / DSLR_TRANSFORMS).is_file():
            raise DataError(f"scene {sid}: missing {ds / DSLR_TRANSFORMS} (intrinsics of the undistorted images); "
                            "download it or run the toolkit's dslr/undistort.py")  # fmt: skip
    else:
        raise ValueError(f"source must be iphone or dslr, not {source!r}")


def _frames(scene_dir: Path, source: str) -> tuple[list[CameraFrame], Path, Path | None, dict]:
    """-> (frames, image folder, depth folder or None, {image_dir, pose_source, frames_without_colmap_pose})."""
    if source == "iphone":
        ip = scene_dir / "iphone"
        if (ip / "colmap" / "images.txt").is_file():
            frames, poses = read_colmap_text(ip / "colmap"), "iphone/colmap/images.txt"
        else:
            frames, poses = read_nerfstudio(ip / "nerfstudio" / "transforms.json"), "iphone/nerfstudio/transforms.json"
        depth = (ip / "depth") if (ip / "depth").is_dir() else None
        info = {"image_dir": "iphone/rgb", "pose_source": poses, "frames_without_colmap_pose": 0}
        return frames, ip / "rgb", depth, info
    ds = scene_dir / "dslr"
    img_dir = _dslr_image_dir(ds)
    frames = read_nerfstudio(ds / DSLR_TRANSFORMS)  # undistorted pinhole intrinsics, image list
    poses, unposed = f"dslr/{DSLR_TRANSFORMS.as_posix()}", 0
    if (ds / "colmap" / "images.txt").is_file():
        colmap = {f.name: f for f in read_colmap_text(ds / "colmap")}
        posed = [replace(f, cam_from_world=colmap[f.name].cam_from_world) for f in frames if f.name in colmap]
        poses, unposed, frames = "dslr/colmap/images.txt", len(frames) - len(posed), posed
    info = {"image_dir": f"dslr/{img_dir.name}", "pose_source": poses, "frames_without_colmap_pose": unposed}
    return frames, img_dir, None, info


def prepare_scannetpp_scene(scene_dir: Path, out: Path, cfg: ScanNetppPrepConfig,
                            mapping: BenchmarkMapping | None = None) -> dict:  # fmt: skip
    """One raw scene -> one prepared scene; returns its stats (also stored in scene.json)."""
    sid = scene_dir.name
    check_scene_layout(scene_dir, cfg.source)
    scans = scene_dir / "scans"
    mesh = read_ply(scans / "mesh_aligned_0.05.ply")
    seg = np.asarray(_load_json(scans / "segments.json").get("segIndices", []), dtype=np.int64)
    if len(seg) != len(mesh.vertices):
        raise DataError(f"scene {sid}: segments.json has {len(seg)} segIndices, the mesh {len(mesh.vertices)} vertices")
    groups = _load_json(scans / "segments_anno.json").get("segGroups")
    if groups is None:
        raise DataError(f"scene {sid}: {scans / 'segments_anno.json'} has no segGroups")
    labels = group_labels(groups, mapping)
    point_gt = scannetpp_point_gt(seg, groups, labels=labels)
    num_superpoints = len(np.unique(seg))
    if num_superpoints == len(seg):
        log.info("scene %s: segments.json has one segment per vertex (toolkit issue #48)", sid)
    mask_file = scans / "mesh_aligned_0.05_mask.txt"
    excluded = np.zeros(0, np.int64)
    if mask_file.is_file() and mask_file.stat().st_size:
        excluded = np.atleast_1d(np.loadtxt(mask_file, dtype=np.int64))
    instance_labels = {int(i): int(point_gt[point_gt % 1000 == i][0] // 1000)
                       for i in np.unique(point_gt[point_gt > 0] % 1000)}  # fmt: skip
    if not instance_labels:
        raise DataError(f"scene {sid}: no annotated object of the 84 instance classes")
    frames, img_dir, depth_dir, info = _frames(scene_dir, cfg.source)
    frames = frames[:: cfg.frame_skip]
    raycaster = MeshRaycaster(mesh.vertices, mesh.faces)
    stats = {
        "source": cfg.source, **info, "frames_skipped_nonfinite_pose": 0, "excluded_vertices": int(len(excluded)),
        "label_mapping": None if mapping is None else MAPPING_FILE.as_posix(), "seg_groups": len(groups),
        "seg_groups_mapped": labels.mapped, "seg_groups_outside_benchmark": sum(labels.outside.values()),
        "labels_outside_benchmark": sorted(labels.outside), "superpoints": num_superpoints,
        "superpoints_per_vertex": num_superpoints == len(seg),
    }  # fmt: skip
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
    split: str = "custom", overwrite: bool = False, skip_bad: bool = False, label_map: str | Path | None = None,
) -> dict:
    """Prepare RAW/data/<scene>/ folders; scenes listed in RAW/splits/nvs_sem_{train,val}.txt get that split.

    label_map: map_benchmark.csv (default RAW/metadata/semantic_benchmark/map_benchmark.csv when it is
    there; without it raw labels are looked up in the top-100 list directly). Every scene's layout is
    checked before the first one is written (unless `skip_bad`). The summary adds `label_mapping`
    (csv path and rows, or None) and `scene_stats` (scene -> stats of the scenes prepared now)."""
    raw, out = Path(raw), Path(out)
    data = raw / "data"
    if not data.is_dir():
        raise DataError(f"no {data}; expected the ScanNet++ layout RAW/data/<scene>/scans/")
    if cfg.frame_skip < 1:
        raise ValueError(f"frame_skip must be >= 1, got {cfg.frame_skip}")
    if cfg.source not in ("iphone", "dslr"):
        raise ValueError(f"source must be iphone or dslr, not {cfg.source!r}")
    check_class_lists(raw / MAPPING_FILE.parent)
    csv_path = Path(label_map) if label_map is not None else raw / MAPPING_FILE
    mapping = read_benchmark_mapping(csv_path) if label_map is not None or csv_path.is_file() else None
    ids = scenes or sorted(d.name for d in data.iterdir() if (d / "scans").is_dir())
    if not ids:
        raise DataError(f"no scene folders with scans/ in {data}")
    missing = [s for s in ids if not (data / s).is_dir()]
    if missing:
        raise DataError(f"scenes not found under {data}: {', '.join(missing[:5])}")
    if not skip_bad:
        for s in ids:
            check_scene_layout(data / s, cfg.source)
    official = {}
    for name in ("nvs_sem_train", "nvs_sem_val", "sem_test"):
        f = raw / "splits" / f"{name}.txt"
        if f.is_file():
            official.update({s: name.replace("nvs_sem_", "").replace("sem_", "") for s in f.read_text().split()})
    scene_stats: dict[str, dict] = {}

    def job(s: str):
        def run() -> dict:
            scene_stats[s] = prepare_scannetpp_scene(data / s, out, cfg, mapping)
            return scene_stats[s]

        return run

    summary = prepare_many([(s, job(s)) for s in ids], out, "scannetpp", lambda s: official.get(s, split), overwrite,
                           skip_bad, desc="ScanNet++ scenes", required_files=(EXCLUDED_FILE,))  # fmt: skip
    summary["label_mapping"] = None if mapping is None else {"path": str(mapping.path), "rows": mapping.rows}
    summary["scene_stats"] = scene_stats
    return summary
