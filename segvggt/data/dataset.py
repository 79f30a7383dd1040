"""Training / validation samples from prepared scenes of any benchmark.

`SceneDataset[SampleKey(scene, frames=S, height=H, width=W, seed)]` picks S frames, loads colour,
depth and instance images, resizes/crops them to (H, W) with matching intrinsics, jitters colour
(train only) and builds the instance targets at mask resolution (H/2, W/2).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from segvggt.data.augment import color_jitter, resize_crop
from segvggt.data.classes import benchmark_classes
from segvggt.data.config import DataConfig
from segvggt.data.errors import DataError
from segvggt.data.prepared import SCENE_FILE, PreparedScene, read_split
from segvggt.data.sampling import (
    SampleKey, evaluation_frame_count, frustum_overlap, image_hw, sample_frame_window, select_fov_frames,
    strided_frames,
)  # fmt: skip
from segvggt.data.targets import build_targets, keep_instance_classes
from segvggt.geometry import depth_to_world_points
from segvggt.types import InstanceTargets

log = logging.getLogger(__name__)

FOV_POINTS_PER_FRAME = 256  # subsampled instance points per frame: plenty for an overlap fraction
FOV_CACHE_FRAMES = 4096
FOV_PIXEL_STRIDE = 4  # unproject every 4th pixel in each direction (see _instance_points)


@dataclass
class SceneSample:
    """One scene's sample; S views at (H, W), masks at (H/2, W/2)."""

    images: Tensor  # [S, 3, H, W] float in [0, 1]
    depth: Tensor  # [S, H, W] metres, 0 = invalid
    cam_from_world: Tensor  # [S, 3, 4]
    intrinsics: Tensor  # [S, 3, 3] in pixels of `images`
    instance_ids: Tensor  # [S, H, W] int64, only instance-class ids, 0 elsewhere
    targets: InstanceTargets
    scene_id: str
    frame_names: list[str]


def _split_ids(root: Path, split: str, skip_bad: bool, skipped: Counter) -> list[str]:
    if not skip_bad:
        return read_split(root, split)
    path = root / "splits" / f"{split}.txt"
    if not path.is_file():
        raise DataError(f"no split file {path}; prepare the data first or choose another split")
    ids = [s.strip() for s in path.read_text().splitlines() if s.strip()]
    present = [s for s in ids if (root / s / SCENE_FILE).is_file()]
    for s in sorted(set(ids) - set(present)):
        skipped[s] += 1
        log.warning("skipping scene %s named in %s: %s is missing", s, path, root / s / SCENE_FILE)
    if not present:
        raise DataError(f"split {path} names no prepared scene under {root}")
    return present


class SceneDataset(Dataset):
    """Samples of the scenes of `<root>/splits/<split>.txt` (the prepared format only)."""

    def __init__(self, cfg: DataConfig, split: str, *, train: bool):
        self.cfg, self.train = cfg, train
        self.root = Path(cfg.root)
        self.classes = benchmark_classes(cfg.benchmark)
        self.skipped: Counter = Counter()  # scene id -> times skipped (bad data, skip_bad_scenes=True)
        self.scene_ids = _split_ids(self.root, split, cfg.skip_bad_scenes, self.skipped)
        self._checked: dict[int, PreparedScene] = {}
        self._fov_points: dict[tuple[int, int], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.scene_ids)

    def validation_frames(self, index: int) -> int:
        """S of scene `index` at validation / evaluation: `evaluation_frame_count(len(scene),
        val_frame_stride, val_frames)`. A scene that fails to load (skip_bad_scenes) gets
        val_frames (or 1), the request the retry in __getitem__ then serves with another scene."""
        try:
            available = len(self.scene(index))
        except DataError:
            if not self.cfg.skip_bad_scenes:
                raise
            return max(1, self.cfg.val_frames)
        return evaluation_frame_count(available, self.cfg.val_frame_stride, self.cfg.val_frames)

    def default_key(self, index: int) -> SampleKey:
        """The validation / evaluation request for scene `index`: its `validation_frames` views,
        taken every val_frame_stride frames from the start, at the validation size."""
        aspect = self.cfg.fixed_aspect or self.cfg.val_aspect
        H, W = image_hw(self.cfg.image_size, aspect)
        return SampleKey(index, self.validation_frames(index), H, W, seed=self.cfg.seed + index, train=False)

    def __getitem__(self, key: SampleKey | int) -> SceneSample:
        if isinstance(key, (int, np.integer)):
            key = self.default_key(int(key))
        if not self.cfg.skip_bad_scenes:
            return self._sample(key)
        for attempt in range(len(self)):
            index = (key.scene + attempt) % len(self)
            try:
                return self._sample(SampleKey(index, key.frames, key.height, key.width, key.seed, key.train))
            except DataError as err:
                self.skipped[self.scene_ids[index]] += 1
                total = sum(self.skipped.values())
                log.warning("skipping bad scene %s (%d skips so far): %s", self.scene_ids[index], total, err)
        raise DataError(f"every scene of {self.root} failed to load; see the warnings above")

    def scene(self, index: int) -> PreparedScene:
        """The prepared scene `index`, checked once for consistent, usable data."""
        if index not in self._checked:
            scene = PreparedScene(self.root, self.scene_ids[index])
            self._check(scene)
            self._checked[index] = scene
        return self._checked[index]

    def _check(self, scene: PreparedScene) -> None:
        where = scene.path / SCENE_FILE
        if scene.benchmark != self.cfg.benchmark:
            raise DataError(f"{where} is benchmark {scene.benchmark!r} but the config says {self.cfg.benchmark!r}")
        counts = {}
        for kind in ("color", "depth", "instance"):
            folder = scene.path / kind
            counts[kind] = sum(1 for _ in folder.iterdir()) if folder.is_dir() else 0
        if len(set(counts.values())) > 1 or counts["color"] != len(scene):
            found = ", ".join(f"{v} {k}" for k, v in counts.items())
            raise DataError(
                f"scene {scene.scene_id}: {where} lists {len(scene)} frames but the folders hold {found} images; "
                "re-run the preparation tool for this scene"
            )
        if not (np.isfinite(scene.cam_from_world()).all() and np.isfinite(scene.intrinsics()).all()):
            raise DataError(f"scene {scene.scene_id}: non-finite camera pose or intrinsics in {where}")
        labels = np.array(list(scene.instance_labels.values()), dtype=np.int64)
        if not (self.classes.index_of(labels) >= 0).any():
            raise DataError(
                f"scene {scene.scene_id} has no instance of a {self.cfg.benchmark} instance class in {where}; "
                "drop it from the split"
            )

    def _frames(self, index: int, scene: PreparedScene, key: SampleKey, rng: np.random.Generator) -> np.ndarray:
        T, S = len(scene), key.frames
        if not key.train:
            return strided_frames(T, S, self.cfg.val_frame_stride)
        if self.cfg.fov_sampling_prob > 0 and rng.random() < self.cfg.fov_sampling_prob:
            reference = int(rng.integers(T))
            reach = S * self.cfg.max_frame_gap
            candidates = np.arange(max(0, reference - reach), min(T, reference + reach + 1))
            ref = scene.frames[reference]
            overlaps = np.array([
                frustum_overlap(
                    self._instance_points(index, scene, int(c)), ref.cam_from_world, ref.intrinsics, scene.image_size
                )
                for c in candidates
            ])  # fmt: skip
            return select_fov_frames(reference, overlaps, candidates, S, self.cfg.fov_threshold, rng)
        return sample_frame_window(T, S, rng, max_gap=self.cfg.max_frame_gap)

    def _instance_points(self, index: int, scene: PreparedScene, frame: int) -> np.ndarray:
        """World points [<=256, 3] of a frame's instance-class pixels (cached per frame).

        Only every FOV_PIXEL_STRIDE-th pixel in each direction is unprojected (with the intrinsics of
        that grid: pixel centres sit at integers, so u = s u' keeps K / s exact): 256 points are all
        an overlap share needs, and unprojecting and sorting ids of every full-resolution pixel made a
        24-view sample take seconds."""
        cache_key = (index, frame)
        if cache_key not in self._fov_points:
            rec = scene.frames[frame]
            s = FOV_PIXEL_STRIDE
            depth = torch.from_numpy(np.ascontiguousarray(scene.depth(frame)[::s, ::s]))
            raw_ids = torch.from_numpy(np.ascontiguousarray(scene.instance(frame)[::s, ::s]))
            ids, _ = keep_instance_classes(raw_ids, scene.instance_labels, self.classes)
            E, K = torch.from_numpy(rec.cam_from_world).float(), torch.from_numpy(rec.intrinsics).float().clone()
            K[:2] /= s
            world = depth_to_world_points(depth, E, K)
            valid = (ids > 0) & (depth > 0)
            pts = world[valid].numpy()
            step = max(1, len(pts) // FOV_POINTS_PER_FRAME)
            if len(self._fov_points) >= FOV_CACHE_FRAMES:
                self._fov_points.pop(next(iter(self._fov_points)))
            self._fov_points[cache_key] = pts[::step][:FOV_POINTS_PER_FRAME]
        return self._fov_points[cache_key]

    def _sample(self, key: SampleKey) -> SceneSample:
        scene = self.scene(key.scene)
        rng = np.random.default_rng(key.seed)
        frames = self._frames(key.scene, scene, key, rng)
        hw = scene.image_size
        colors, depths, instances = [], [], []
        for f in frames.tolist():
            c, d, i = scene.color(f), scene.depth(f), scene.instance(f)
            if c.shape[:2] != hw or d.shape != hw or i.shape != hw:
                raise DataError(
                    f"scene {scene.scene_id} frame {scene.frames[f].name}: colour {c.shape[:2]}, depth {d.shape} and "
                    f"instance {i.shape} sizes differ from {hw} in {scene.path / SCENE_FILE}; "
                    "re-run the preparation tool"
                )
            colors.append(c)
            depths.append(d)
            instances.append(i)
        images = torch.from_numpy(np.stack(colors)).permute(0, 3, 1, 2).float() / 255.0
        depth = torch.from_numpy(np.stack(depths))
        ids = torch.from_numpy(np.stack(instances))
        K = torch.from_numpy(scene.intrinsics()[frames]).float()
        E = torch.from_numpy(scene.cam_from_world()[frames]).float()
        crop_rng = rng if (key.train and self.cfg.random_crop) else None
        images, depth, ids, K = resize_crop(images, depth, ids, K, (key.height, key.width), crop_rng)
        if key.train:
            images = color_jitter(images, self.cfg.color_jitter, rng)
        ids, class_of = keep_instance_classes(ids, scene.instance_labels, self.classes)
        targets = build_targets(ids, class_of, (key.height // 2, key.width // 2))
        return SceneSample(
            images=images.contiguous(), depth=depth.contiguous(), cam_from_world=E, intrinsics=K,
            instance_ids=ids.contiguous(), targets=targets, scene_id=scene.scene_id,
            frame_names=[scene.frames[f].name for f in frames.tolist()],
        )  # fmt: skip
