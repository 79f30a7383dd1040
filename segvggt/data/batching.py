"""VGGT's dynamic batching: per batch one S and one image size, B = max(1, cap // S) scenes.

`ScenePermutation` is this rank's scene order of an epoch (DDP-aware); `DynamicBatchSampler`
groups it into batches of `SampleKey`s. The per-batch S and aspect ratio come from a generator
seeded by (seed, epoch) only, so every rank draws the same sequence and all ranks run the same
number of steps with the same shapes. `collate_scenes` stacks samples into a `SceneBatch`.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from segvggt.data.config import DataConfig
from segvggt.data.dataset import SceneSample
from segvggt.data.sampling import SampleKey, image_hw
from segvggt.types import SceneBatch


class ScenePermutation:
    """The scene indices one rank visits in one epoch.

    The epoch's order (shuffled with (seed, epoch) when `shuffle`) is padded by wrapping around
    to a multiple of `world_size`, then rank r takes positions r, r + world_size, ...
    Lightning calls `set_epoch` on it through the batch sampler's `.sampler`.
    """

    def __init__(self, num_scenes: int, *, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1):
        if num_scenes < 1:
            raise ValueError("ScenePermutation needs at least one scene")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.num_scenes, self.shuffle, self.seed = num_scenes, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return -(-self.num_scenes // self.world_size)

    def order(self, epoch: int) -> list[int]:
        """This rank's scene indices in `epoch`."""
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.num_scenes)
        else:
            order = np.arange(self.num_scenes)
        padded = np.resize(order, len(self) * self.world_size)  # np.resize repeats from the start
        return padded[self.rank :: self.world_size].tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.order(self.epoch))


class DynamicBatchSampler:
    """Batches of `SampleKey`s: every key of a batch has the same S and (H, W).

    Per batch: S ~ U{min_frames..max_frames}, aspect H/W ~ U(aspect_range) (or `fixed_aspect`),
    W = image_size, B = max(1, max_images_per_batch // S), so B * S <= max_images_per_batch
    whenever S <= max_images_per_batch. The last batch of an epoch may be smaller.

    Epoch k is always the same list of batches, `plan(k)`. Lightning picks the epoch through
    `set_epoch`; a resumed run instead continues the run's stream of batches where the checkpoint
    left it (`start_at`), so it sees exactly the batches an uninterrupted run would have seen.
    """

    def __init__(
        self,
        sampler: ScenePermutation,
        *,
        min_frames: int,
        max_frames: int,
        max_images_per_batch: int,
        image_size: int,
        aspect_range: Sequence[float] = (0.33, 1.0),
        fixed_aspect: float | None = None,
        train: bool = True,
        drop_last: bool = False,
    ):
        if not 1 <= min_frames <= max_frames:
            raise ValueError(f"need 1 <= min_frames <= max_frames, got {min_frames}, {max_frames}")
        self.sampler = sampler
        self.min_frames, self.max_frames = min_frames, max_frames
        self.cap, self.image_size = max_images_per_batch, image_size
        self.aspect_range, self.fixed_aspect = (float(aspect_range[0]), float(aspect_range[1])), fixed_aspect
        self.train, self.drop_last = train, drop_last
        self._cursor: tuple[int, int] | None = None  # (epoch, batch) of the next batch after start_at

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def start_at(self, batches_done: int) -> None:
        """Continue the run's stream of batches (plan(0), plan(1), ...) after `batches_done` batches;
        from then on each iteration yields the rest of the current epoch's plan and Lightning's
        epoch numbers no longer choose the plan."""
        epoch = 0
        while batches_done > 0 and batches_done >= len(self.plan(epoch)):
            batches_done -= len(self.plan(epoch))
            epoch += 1
        self._cursor = (epoch, batches_done)

    def plan(self, epoch: int | None = None) -> list[list[SampleKey]]:
        """All batches of `epoch` (None = the epoch set by Lightning) for this rank."""
        seed, rank = self.sampler.seed, self.sampler.rank
        epoch = self.sampler.epoch if epoch is None else epoch
        shape_rng = np.random.default_rng([seed, epoch, 1])  # rank-independent on purpose
        scenes = self.sampler.order(epoch)
        batches, start = [], 0
        while start < len(scenes):
            S = int(shape_rng.integers(self.min_frames, self.max_frames + 1))
            aspect = self.fixed_aspect or float(shape_rng.uniform(*self.aspect_range))
            H, W = image_hw(self.image_size, aspect)
            B = max(1, self.cap // S)
            chunk = scenes[start : start + B]
            start += B
            if len(chunk) < B and self.drop_last:
                break
            b = len(batches)
            keys = []
            for j, s in enumerate(chunk):
                sample_seed = int(np.random.SeedSequence([seed, epoch, rank, b, j]).generate_state(1)[0])
                keys.append(SampleKey(s, S, H, W, seed=sample_seed, train=self.train))
            batches.append(keys)
        return batches

    def __iter__(self) -> Iterator[list[SampleKey]]:
        if self._cursor is None:
            return iter(self.plan())
        epoch, first = self._cursor
        self._cursor = (epoch + 1, 0)
        return iter(self.plan(epoch)[first:])

    def __len__(self) -> int:
        if self._cursor is None:
            return len(self.plan())
        epoch, first = self._cursor
        return len(self.plan(epoch)) - first


class ValidationBatchSampler:
    """Fixed validation batches when every scene has its own S (the evaluation's frame selection).

    Scenes are visited in order; consecutive scenes with the same S share a batch of at most
    B = max(1, max_images_per_batch // S) scenes. The batch list is padded by wrapping to a multiple
    of `world_size` and rank r takes batches r, r + world_size, ... so every rank runs the same
    number of validation steps (DDP forwards may synchronise buffers).
    """

    def __init__(
        self,
        frames_per_scene: Sequence[int],
        *,
        height: int,
        width: int,
        max_images_per_batch: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        if len(frames_per_scene) < 1 or min(frames_per_scene) < 1:
            raise ValueError("ValidationBatchSampler needs at least one scene and S >= 1 for every scene")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.frames = [int(f) for f in frames_per_scene]
        self.height, self.width, self.cap, self.seed = height, width, max_images_per_batch, seed
        self.rank, self.world_size = rank, world_size

    def set_epoch(self, epoch: int) -> None:  # validation batches do not change between epochs
        pass

    def plan(self) -> list[list[SampleKey]]:
        batches: list[list[int]] = []
        for scene, S in enumerate(self.frames):
            last = batches[-1] if batches else None
            if last and self.frames[last[0]] == S and len(last) < max(1, self.cap // S):
                last.append(scene)
            else:
                batches.append([scene])
        total = -(-len(batches) // self.world_size) * self.world_size
        mine = [batches[i % len(batches)] for i in range(self.rank, total, self.world_size)]
        return [
            [SampleKey(s, self.frames[s], self.height, self.width, seed=self.seed + s, train=False) for s in b]
            for b in mine
        ]

    def __iter__(self) -> Iterator[list[SampleKey]]:
        return iter(self.plan())

    def __len__(self) -> int:
        return len(self.plan())


def make_batch_sampler(
    cfg: DataConfig,
    num_scenes: int,
    *,
    train: bool,
    rank: int = 0,
    world_size: int = 1,
    frames_per_scene: Sequence[int] | None = None,
):
    """The train (shuffled, dynamic S and aspect) or validation batch sampler of `cfg`.

    Validation needs `frames_per_scene` (`SceneDataset.validation_frames` of every scene); without
    it every scene gets `val_frames` frames (or 1 when val_frames is 0).
    """
    if train:
        order = ScenePermutation(num_scenes, shuffle=True, seed=cfg.seed, rank=rank, world_size=world_size)
        return DynamicBatchSampler(
            order, min_frames=cfg.min_frames, max_frames=cfg.max_frames, max_images_per_batch=cfg.max_images_per_batch,
            image_size=cfg.image_size, aspect_range=cfg.aspect_range, fixed_aspect=cfg.fixed_aspect, train=True,
        )  # fmt: skip
    if frames_per_scene is None:
        frames_per_scene = [max(1, cfg.val_frames)] * num_scenes
    H, W = image_hw(cfg.image_size, cfg.fixed_aspect or cfg.val_aspect)
    return ValidationBatchSampler(
        frames_per_scene, height=H, width=W, max_images_per_batch=cfg.max_images_per_batch, seed=cfg.seed,
        rank=rank, world_size=world_size,
    )  # fmt: skip


def collate_scenes(samples: Sequence[SceneSample]) -> SceneBatch:
    """Stack samples with one S and one (H, W) into a SceneBatch ([B, S, ...] tensors)."""
    if not samples:
        raise ValueError("collate_scenes got an empty batch")
    shapes = {tuple(s.images.shape) for s in samples}
    if len(shapes) > 1:
        raise ValueError(f"a batch needs one S and image size, got shapes {sorted(shapes)}; use DynamicBatchSampler")
    return SceneBatch(
        images=torch.stack([s.images for s in samples]),
        depth=torch.stack([s.depth for s in samples]),
        cam_from_world=torch.stack([s.cam_from_world for s in samples]),
        intrinsics=torch.stack([s.intrinsics for s in samples]),
        instance_ids=torch.stack([s.instance_ids for s in samples]),
        targets=[s.targets for s in samples],
        scene_ids=[s.scene_id for s in samples],
        frame_names=[list(s.frame_names) for s in samples],
    )
