"""The one prepared-scene format every dataset is converted to (see docs/DESIGN.md).

`write_scene` writes a scene atomically (into a temporary folder renamed when complete), and
`PreparedScene` reads one back. Synthetic, ScanNet and ScanNet++ preparation all go through here,
so sampling, training and evaluation have exactly one reader.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from segvggt.atomic import atomic_write_text
from segvggt.data.errors import DataError

SCENE_FILE = "scene.json"


@dataclass(frozen=True)
class FrameRecord:
    name: str
    color: str  # path relative to the scene folder
    depth: str
    instance: str
    cam_from_world: np.ndarray  # [3, 4] float64
    intrinsics: np.ndarray  # [3, 3] float64


EXCLUDED_VERTICES_FILE = "excluded_vertices.npy"  # ScanNet++: written by data/scannetpp.py


def read_image(path: Path, what: str, hint: str = "re-run the preparation tool for this scene") -> np.ndarray:
    """The pixels of an image file; a missing or undecodable file is one DataError naming it."""
    if not path.is_file():
        raise DataError(f"missing {what} image {path}; {hint}")
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im)
    except (OSError, ValueError) as err:
        raise DataError(f"unreadable {what} image {path} ({err}); {hint}") from err


class PreparedScene:
    """Read access to `<root>/<scene_id>/` in the prepared format."""

    def __init__(self, root: str | Path, scene_id: str):
        self.root = Path(root)
        self.scene_id = scene_id
        self.path = self.root / scene_id
        meta_path = self.path / SCENE_FILE
        if not meta_path.is_file():
            raise DataError(f"scene {scene_id!r} has no {meta_path}; prepare it first (tools/prepare_*.py)")
        try:
            self.meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as err:
            raise DataError(f"{meta_path} is not valid JSON ({err}); re-run the preparation tool") from err
        if not self.meta.get("frames"):
            raise DataError(f"scene {scene_id!r} lists no frames in {meta_path}")

    @property
    def benchmark(self) -> str:
        return self.meta["benchmark"]

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of every stored frame."""
        return int(self.meta["height"]), int(self.meta["width"])

    @cached_property
    def frames(self) -> list[FrameRecord]:
        return [
            FrameRecord(
                f["name"], f["color"], f["depth"], f["instance"],
                np.asarray(f["cam_from_world"], dtype=np.float64), np.asarray(f["intrinsics"], dtype=np.float64),
            )  # fmt: skip
            for f in self.meta["frames"]
        ]

    def __len__(self) -> int:
        return len(self.meta["frames"])

    @cached_property
    def instance_labels(self) -> dict[int, int]:
        """instance id -> benchmark label id."""
        return {int(k): int(v["label_id"]) for k, v in self.meta.get("instances", {}).items()}

    def color(self, i: int) -> np.ndarray:
        """[H, W, 3] uint8."""
        img = read_image(self.path / self.frames[i].color, "color")
        return img[..., :3] if img.ndim == 3 else np.repeat(img[..., None], 3, axis=-1)

    def depth(self, i: int) -> np.ndarray:
        """[H, W] float32 metres, 0 = invalid."""
        return read_image(self.path / self.frames[i].depth, "depth").astype(np.float32) / 1000.0

    def instance(self, i: int) -> np.ndarray:
        """[H, W] int64 instance ids, 0 = none."""
        return read_image(self.path / self.frames[i].instance, "instance").astype(np.int64)

    def cam_from_world(self) -> np.ndarray:
        """[S, 3, 4] for every frame."""
        return np.stack([f.cam_from_world for f in self.frames])

    def intrinsics(self) -> np.ndarray:
        """[S, 3, 3] for every frame."""
        return np.stack([f.intrinsics for f in self.frames])

    def _array(self, name: str) -> np.ndarray:
        path = self.path / name
        if not path.is_file():
            raise DataError(f"scene {self.scene_id!r} has no {path}; re-run the preparation tool")
        return np.load(path)

    def points(self) -> np.ndarray:
        """[M, 3] float32 benchmark points."""
        return self._array("points.npy")

    def superpoints(self) -> np.ndarray:
        """[M] int64."""
        return self._array("superpoints.npy")

    def point_gt(self) -> np.ndarray:
        """[M] int64 label_id*1000 + instance_id."""
        return self._array("point_gt.npy")

    def excluded_vertices(self) -> np.ndarray | None:
        """[E] int64 benchmark points left out of the evaluation (ScanNet++'s mesh mask file), or None."""
        path = self.path / EXCLUDED_VERTICES_FILE
        return np.load(path) if path.is_file() else None


def read_split(root: str | Path, split: str) -> list[str]:
    """Scene ids of `<root>/splits/<split>.txt`; every listed scene must exist."""
    path = Path(root) / "splits" / f"{split}.txt"
    if not path.is_file():
        raise DataError(f"no split file {path}; prepare the data first or choose another split")
    ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    missing = [s for s in ids if not (Path(root) / s / SCENE_FILE).is_file()]
    if missing:
        raise DataError(
            f"split {path} names {len(missing)} scene(s) that are not prepared under {root}: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )
    return ids


def write_split(root: str | Path, split: str, scene_ids: list[str]) -> None:
    path = Path(root) / "splits" / f"{split}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(f"{s}\n" for s in scene_ids))


def write_scene(
    root: str | Path,
    scene_id: str,
    *,
    benchmark: str,
    source: str,
    frame_names: list[str],
    colors: list[np.ndarray],
    depths: list[np.ndarray],
    instances: list[np.ndarray],
    cam_from_world: np.ndarray,
    intrinsics: np.ndarray,
    instance_labels: dict[int, int],
    points: np.ndarray,
    superpoints: np.ndarray,
    point_gt: np.ndarray,
    stats: dict | None = None,
    color_format: str = "jpg",
) -> Path:
    """Write one scene in the prepared format, atomically, and its official GT txt.

    Args:
        colors: S × [H, W, 3] uint8; depths: S × [H, W] float metres (0 invalid);
        instances: S × [H, W] integer instance ids (0 none, < 65536);
        cam_from_world: [S, 3, 4]; intrinsics: [S, 3, 3]; points: [M, 3];
        superpoints: [M]; point_gt: [M] label_id*1000 + instance_id.
    """
    root = Path(root)
    S = len(frame_names)
    if not (len(colors) == len(depths) == len(instances) == S == len(cam_from_world) == len(intrinsics)):
        raise DataError(
            f"scene {scene_id}: {len(colors)} colour, {len(depths)} depth, {len(instances)} instance images, "
            f"{len(cam_from_world)} poses and {S} names disagree"
        )
    if S == 0:
        raise DataError(f"scene {scene_id}: no frames to write")
    if not (len(points) == len(superpoints) == len(point_gt)):
        raise DataError(f"scene {scene_id}: points, superpoints and point GT have different lengths")
    H, W = depths[0].shape
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{scene_id}.tmp-"))
    try:
        for sub in ("color", "depth", "instance"):
            (tmp / sub).mkdir()
        frames = []
        for i, name in enumerate(frame_names):
            if colors[i].shape[:2] != (H, W) or depths[i].shape != (H, W) or instances[i].shape != (H, W):
                raise DataError(f"scene {scene_id} frame {name}: colour/depth/instance sizes differ from {H}x{W}")
            color_rel = f"color/{name}.{color_format}"
            Image.fromarray(np.ascontiguousarray(colors[i], dtype=np.uint8)).save(
                tmp / color_rel, **({"quality": 95} if color_format == "jpg" else {})
            )
            depth_mm = np.clip(np.round(np.nan_to_num(depths[i], nan=0.0) * 1000.0), 0, 65535).astype(np.uint16)
            Image.fromarray(depth_mm).save(tmp / f"depth/{name}.png")
            Image.fromarray(np.asarray(instances[i]).astype(np.uint16)).save(tmp / f"instance/{name}.png")
            frames.append({
                "name": name, "color": color_rel, "depth": f"depth/{name}.png", "instance": f"instance/{name}.png",
                "cam_from_world": np.asarray(cam_from_world[i], dtype=np.float64).tolist(),
                "intrinsics": np.asarray(intrinsics[i], dtype=np.float64).tolist(),
            })  # fmt: skip
        np.save(tmp / "points.npy", np.asarray(points, dtype=np.float32))
        np.save(tmp / "superpoints.npy", np.asarray(superpoints, dtype=np.int64))
        np.save(tmp / "point_gt.npy", np.asarray(point_gt, dtype=np.int64))
        meta = {
            "scene_id": scene_id, "benchmark": benchmark, "source": source, "width": int(W), "height": int(H),
            "frames": frames,
            "instances": {str(k): {"label_id": int(v)} for k, v in sorted(instance_labels.items())},
            "stats": stats or {},
        }  # fmt: skip
        (tmp / SCENE_FILE).write_text(json.dumps(meta, indent=1))
        tmp.chmod(0o755)  # mkdtemp makes it private; prepared data is meant to be shared
        final = root / scene_id
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    gt_dir = root / "gt_instance"
    gt_dir.mkdir(exist_ok=True)
    atomic_write_text(gt_dir / f"{scene_id}.txt", "".join(f"{int(v)}\n" for v in point_gt))
    return root / scene_id
