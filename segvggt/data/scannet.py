"""ScanNet v2 / ScanNet200 raw scans -> prepared scenes (docs/DESIGN.md, PROTOCOL (c)).

Point GT follows ScanNet `BenchmarkScripts/3d_helpers/export_train_mesh_for_evaluation.py` as a
Python 3 run executes it (checked in code): labels are written per *label* in order of the label's
first appearance in `segGroups` (so where groups overlap, the label first seen later wins), then
instance ids `objectId + 1` per group in `segGroups` order (the later group wins); the file holds
`label * 1000 + instance` and 0 on unannotated vertices. The label is `nyu40id` (scannet) or `id`
restricted to VALID_CLASS_IDS_200, else 0 (scannet200, as `preprocess_scannet200.py`), looked up by
`raw_category` in `scannetv2-labels.combined.tsv` (last row wins for nyu40id like the official
`read_label_mapping`, first row for id like the ScanNet200 pandas lookup); a label missing from the
tsv gives 0 (the official v2 script would crash) and is counted. A group whose label maps to 0 still
writes `objectId + 1` (< 1000, void for the evaluator), exactly as the official formula does.

2D instance images (`_2d-instance(-filt).zip` or folders) carry `objectId + 1` per pixel (8-bit);
pixels whose object is not an evaluated instance class of the benchmark become 0. Images are
resampled onto the depth camera (colour and depth share centre and axes in ScanNet; their intrinsics
differ), so every stored image of a frame shares the stored (depth) intrinsics.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from segvggt.data.classes import benchmark_classes
from segvggt.data.errors import DataError
from segvggt.data.ply import read_ply
from segvggt.data.prepared import write_scene
from segvggt.data.raycast import MeshRaycaster, camera_resample, scaled_intrinsics
from segvggt.data.scannet_labels import LABEL_MAP_NAME, LabelMap, export_point_gt, find_label_map, read_label_map  # noqa: F401
from segvggt.data.sens import ExportFolder, SensFile

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ScanNetSceneFiles:
    scene_id: str
    mesh: Path
    segs: Path
    aggregation: Path


def _first_file(folder: Path, names: list[str], what: str, scene: str) -> Path:
    for n in names:
        if (folder / n).is_file():
            return folder / n
    raise DataError(f"scene {scene}: missing {what} ({' or '.join(names)}) in {folder}")


def scene_files(scene_dir: Path) -> ScanNetSceneFiles:
    s = scene_dir.name
    return ScanNetSceneFiles(
        s,
        _first_file(scene_dir, [f"{s}_vh_clean_2.ply"], "mesh", s),
        _first_file(scene_dir, [f"{s}_vh_clean_2.0.010000.segs.json"], "over-segmentation", s),
        _first_file(scene_dir, [f"{s}.aggregation.json", f"{s}_vh_clean.aggregation.json"], "aggregation", s),
    )


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"unreadable JSON {path} ({err}); re-download it") from err


class ImageSet:
    """Integer-named PNGs from a zip (any member `<dir>/<i>.png`) or a folder: frame id -> [h, w] array."""

    def __init__(self, source: Path):
        self.source = source
        self._zip = zipfile.ZipFile(source) if source.is_file() else None
        names = self._zip.namelist() if self._zip else [str(p.relative_to(source)) for p in source.rglob("*.png")]
        self._members = {int(Path(n).stem): n for n in names if n.lower().endswith(".png") and Path(n).stem.isdigit()}
        if not self._members:
            raise DataError(f"{source} holds no <frame>.png images")

    def __contains__(self, i: int) -> bool:
        return i in self._members

    def read(self, i: int) -> np.ndarray:
        name = self._members[i]
        try:
            data = self._zip.read(name) if self._zip else (self.source / name).read_bytes()
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                return np.asarray(im).astype(np.int64)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise DataError(f"unreadable image {name} in {self.source} ({err}); re-download it") from err


def _image_set(scene_dir: Path, kind: str) -> ImageSet | None:
    """kind 'instance' or 'label': filtered zip, filtered folder, unfiltered zip, unfiltered folder."""
    s = scene_dir.name
    for filt in ("-filt", ""):
        z = scene_dir / f"{s}_2d-{kind}{filt}.zip"
        for cand in (z, scene_dir / f"{kind}{filt}", scene_dir / f"{s}_2d-{kind}{filt}" / f"{kind}{filt}",
                     scene_dir / f"{s}_2d-{kind}{filt}"):  # fmt: skip
            if cand.is_file() or (cand.is_dir() and any(cand.glob("*.png"))):
                try:
                    return ImageSet(cand)
                except zipfile.BadZipFile as err:
                    raise DataError(f"{cand} is not a valid zip ({err}); re-download it") from err
    return None


def frame_source(scene_dir: Path, prefer: str = "auto"):
    """SensFile or ExportFolder for a scene. prefer: auto (export folder if present, else .sens), sens, export."""
    sens = scene_dir / f"{scene_dir.name}.sens"
    exports = [d for d in (scene_dir, scene_dir / "exported", scene_dir / "export", scene_dir / "frames",
                           scene_dir / "sens") if ExportFolder.looks_like(d)]  # fmt: skip
    if prefer in ("auto", "export") and exports:
        return ExportFolder(exports[0])
    if prefer in ("auto", "sens") and sens.is_file():
        return SensFile(sens)
    raise DataError(
        f"scene {scene_dir.name}: no frames ({'export folder' if prefer == 'export' else sens.name + ' or export folder'}"
        f" with color/ depth/ pose/ intrinsic/) in {scene_dir}"
    )


@dataclass(frozen=True)
class ScanNetPrepConfig:
    benchmark: str = "scannet"
    frame_skip: int = 20
    size: tuple[int, int] = (640, 480)  # (width, height)
    frame_source: str = "auto"


def prepare_scannet_scene(scene_dir: Path, out: Path, label_map: LabelMap, cfg: ScanNetPrepConfig) -> dict:
    """Prepare one raw scan folder into `out/<scene>`. Returns its stats."""
    files = scene_files(scene_dir)
    sid = files.scene_id
    mesh = read_ply(files.mesh)
    seg_indices = np.asarray(_load_json(files.segs).get("segIndices", []), dtype=np.int64)
    if len(seg_indices) != len(mesh.vertices):
        raise DataError(
            f"scene {sid}: {files.segs.name} has {len(seg_indices)} segIndices but the mesh has "
            f"{len(mesh.vertices)} vertices; use the _vh_clean_2 files of the same scan"
        )
    groups = _load_json(files.aggregation).get("segGroups")
    if groups is None:
        raise DataError(f"scene {sid}: {files.aggregation} has no segGroups")
    unknown = sorted({g.get("label", "") for g in groups} - set(label_map.raw_to_nyu40))
    point_gt, gt_stats = export_point_gt(seg_indices, groups, lambda lab: label_map.label_of(lab, cfg.benchmark))
    classes = benchmark_classes(cfg.benchmark)
    inst_classes = set(classes.instance_ids)
    instance_labels: dict[int, int] = {}
    for inst in np.unique(point_gt % 1000):
        if inst == 0:
            continue
        labs, counts = np.unique(point_gt[point_gt % 1000 == inst] // 1000, return_counts=True)
        lab = int(labs[np.argmax(counts)])
        if lab in inst_classes:
            instance_labels[int(inst)] = lab
    if not instance_labels:
        raise DataError(f"scene {sid}: no object of an evaluated {cfg.benchmark} class in {files.aggregation.name}")

    source = frame_source(scene_dir, cfg.frame_source)
    instances_2d = _image_set(scene_dir, "instance")
    labels_2d = _image_set(scene_dir, "label")
    raycaster = None
    if instances_2d is None:
        log.warning("scene %s: no 2D instance images; ray casting the annotated mesh instead", sid)
    inst_lut = np.zeros(65536, dtype=np.int64)
    inst_lut[list(instance_labels)] = list(instance_labels)
    raw_lut = label_map.raw_id_lut(cfg.benchmark)
    W, H = cfg.size
    K_depth, K_color = source.depth_intrinsics, source.color_intrinsics
    stats = {"frames_skipped_nonfinite_pose": 0, "frames_instance_raycast": 0,
             "label_image_mismatch_pixels": 0, "unknown_labels": unknown, **gt_stats,
             "instance_source": "raycast" if instances_2d is None else str(instances_2d.source.name)}  # fmt: skip
    names, colors, depths, masks, poses, Ks = [], [], [], [], [], []
    for i in source.frame_ids:
        if i % cfg.frame_skip:
            continue
        c2w = source.camera_to_world(i)
        if not np.all(np.isfinite(c2w)) or abs(np.linalg.det(c2w[:3, :3])) < 1e-6:
            stats["frames_skipped_nonfinite_pose"] += 1
            continue
        depth = source.depth(i)
        K_t = scaled_intrinsics(K_depth, W / depth.shape[1], H / depth.shape[0])
        depth = camera_resample(depth, K_depth, K_t, (H, W), order=0)
        color_full = source.color(i)
        color = camera_resample(color_full, K_color, K_t, (H, W), order=1)
        cam_from_world = np.linalg.inv(c2w)[:3]
        if instances_2d is None or i not in instances_2d:
            # no 2D instance image for this frame: render the annotated mesh instead
            raycaster = raycaster or MeshRaycaster(mesh.vertices, mesh.faces)
            stats["frames_instance_raycast"] += 1
            hit = raycaster.cast(cam_from_world, K_t, H, W)
            raw_inst = np.where(hit.vertex >= 0, point_gt[np.maximum(hit.vertex, 0)] % 1000, 0)
        else:
            raw_inst = instances_2d.read(i)
            # 2D images are at colour resolution (or a resize of it): scale the colour intrinsics to them.
            K_img = scaled_intrinsics(K_color, raw_inst.shape[1] / color_full.shape[1], raw_inst.shape[0] / color_full.shape[0])
            if labels_2d is not None and i in labels_2d:
                lab_img = np.clip(labels_2d.read(i), 0, 65535)
                on_object = inst_lut[np.clip(raw_inst, 0, 65535)] > 0
                stats["label_image_mismatch_pixels"] += int(
                    (on_object & ~np.isin(raw_lut[lab_img], list(inst_classes))).sum()
                )
            raw_inst = camera_resample(raw_inst, K_img, K_t, (H, W), order=0)
        names.append(f"{i:06d}")
        colors.append(color)
        depths.append(depth)
        masks.append(inst_lut[np.clip(raw_inst, 0, 65535)])
        poses.append(cam_from_world)
        Ks.append(K_t)
    if not names:
        raise DataError(f"scene {sid}: no frame with a finite pose among every {cfg.frame_skip}th frame")
    if not any(m.any() for m in masks):
        raise DataError(f"scene {sid}: the instance masks of all kept frames are empty")
    write_scene(
        out, sid, benchmark=cfg.benchmark, source=f"tools/prepare_scannet.py ({type(source).__name__})",
        frame_names=names, colors=colors, depths=depths, instances=masks, cam_from_world=np.stack(poses),
        intrinsics=np.stack(Ks), instance_labels=instance_labels, points=mesh.vertices,
        superpoints=seg_indices, point_gt=point_gt, stats=stats,
    )  # fmt: skip
    return stats


def official_split(scene_id: str) -> str | None:
    """'train' / 'val' / 'test' when the scene is in the official ScanNet v2 lists shipped with the package."""
    from importlib import resources

    for name in ("train", "val", "test"):
        text = resources.files("segvggt.data").joinpath(f"splits/scannetv2_{name}.txt").read_text()
        if scene_id in text.split():
            return name
    return None


def prepare_many(
    scenes: list[tuple[str, Callable[[], dict]]], out: Path, benchmark: str, split_of: Callable[[str], str],
    overwrite: bool = False, skip_bad: bool = False, desc: str = "scenes", required_files: tuple[str, ...] = (),
) -> dict:
    """Run `prepare()` for each (scene_id, prepare) with a progress bar; skip scenes already prepared for the
    same benchmark (resume) unless `overwrite`; with `skip_bad` a DataError is logged and counted instead of
    raised. Writes `out/splits/<split>.txt` (merged with what is already there). Returns a summary."""
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    summary = {"prepared": [], "resumed": [], "skipped_bad": {}, "frames_skipped_nonfinite_pose": 0}
    for sid, prepare in tqdm(scenes, desc=desc, unit="scene"):
        meta = out / sid / "scene.json"
        complete = meta.is_file() and (out / "gt_instance" / f"{sid}.txt").is_file()
        complete = complete and all((out / sid / f).is_file() for f in required_files)
        if complete and not overwrite:
            done = _load_json(meta).get("benchmark")
            if done != benchmark:
                raise DataError(
                    f"{out / sid} was prepared for benchmark {done!r}, not {benchmark!r}; "
                    "use another --out or pass --overwrite"
                )
            summary["resumed"].append(sid)
            continue
        try:
            stats = prepare()
        except DataError as err:
            if not skip_bad:
                raise
            log.warning("skipping scene %s: %s", sid, err)
            summary["skipped_bad"][sid] = str(err)
            continue
        summary["frames_skipped_nonfinite_pose"] += int(stats.get("frames_skipped_nonfinite_pose", 0))
        summary["prepared"].append(sid)
    by_split: dict[str, set[str]] = {}
    for sid in summary["prepared"] + summary["resumed"]:
        by_split.setdefault(split_of(sid), set()).add(sid)
    from segvggt.data.prepared import write_split

    for split, ids in by_split.items():
        path = out / "splits" / f"{split}.txt"
        old = {s for s in path.read_text().split() if (out / s / "scene.json").is_file()} if path.is_file() else set()
        write_split(out, split, sorted(old | ids))
    summary["splits"] = {k: sorted(v) for k, v in by_split.items()}
    return summary


def _scene_dirs(raw: Path, scenes: list[str] | None) -> list[Path]:
    roots = [r for r in (raw / "scans", raw / "scans_test", raw) if r.is_dir()]
    if scenes is None:
        base = raw / "scans" if (raw / "scans").is_dir() else raw
        found = sorted(d for d in base.iterdir() if d.is_dir() and d.name.startswith("scene"))
        if not found:
            raise DataError(f"no scene folders in {base}; expected RAW/scans/<scene>/")
        return found
    dirs = []
    for s in scenes:
        d = next((r / s for r in roots if (r / s).is_dir()), None)
        if d is None:
            raise DataError(f"scene {s} not found under {raw}/scans (or scans_test); check --scenes / --split-file")
        dirs.append(d)
    return dirs


def prepare_scannet(
    raw: str | Path, out: str | Path, cfg: ScanNetPrepConfig, *, scenes: list[str] | None = None,
    split_file: str | Path | None = None, split: str | None = None, label_map: str | Path | None = None,
    overwrite: bool = False, skip_bad: bool = False,
) -> dict:
    """Prepare ScanNet scans (all of RAW/scans, or `scenes`, or the ids in `split_file`) into `out`.

    Scenes of the official v2 lists go to train/val/test; others to `split` (default: the split
    file's stem, else 'custom')."""
    raw, out = Path(raw), Path(out)
    if cfg.benchmark not in ("scannet", "scannet200"):
        raise ValueError(f"benchmark must be scannet or scannet200, not {cfg.benchmark!r}")
    if cfg.frame_skip < 1:
        raise ValueError(f"frame_skip must be >= 1, got {cfg.frame_skip}")
    if not raw.is_dir():
        raise DataError(f"raw ScanNet folder {raw} does not exist")
    if split_file is not None:
        sf = Path(split_file)
        if not sf.is_file():
            raise DataError(f"split file {sf} does not exist")
        scenes = (scenes or []) + [s for s in sf.read_text().split() if s]
        split = split or sf.stem
    lm = read_label_map(label_map if label_map is not None else find_label_map(raw))
    fallback = split or "custom"
    jobs = [(d.name, (lambda d=d: prepare_scannet_scene(d, out, lm, cfg))) for d in _scene_dirs(raw, scenes)]
    return prepare_many(
        jobs, out, cfg.benchmark, lambda s: official_split(s) or fallback, overwrite, skip_bad, desc="ScanNet scenes"
    )
