"""LightningDataModule wiring prepared scenes, dynamic batching and workers (the only Lightning import in data/).

Trainer note: the batch sampler already splits scenes across ranks, so build the Trainer with
`use_distributed_sampler=False`.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from segvggt.data.batching import collate_scenes, make_batch_sampler
from segvggt.data.config import DataConfig
from segvggt.data.dataset import SceneDataset
from segvggt.data.errors import DataError

log = logging.getLogger(__name__)


def _seed_worker(worker_id: int) -> None:
    # samples carry their own seeds (SampleKey.seed); this only pins torch/numpy state used elsewhere
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    # one thread per worker process: the loaders' small tensor ops otherwise spin OpenMP threads that
    # compete with each other and with the training process for the same cores
    torch.set_num_threads(1)


def _rendered_sources(root: Path, cfg: DataConfig) -> list[str] | None:
    """Source strings of the first listed scene of each split when root already holds both split
    files, None when it does not (nothing there yet, or an interrupted generation)."""
    import json

    sources = []
    for split in (cfg.train_split, cfg.val_split):
        path = root / "splits" / f"{split}.txt"
        if not path.is_file():
            return None
        for scene_id in [line.strip() for line in path.read_text().splitlines() if line.strip()][:1]:
            try:
                sources.append(json.loads((root / scene_id / "scene.json").read_text()).get("source", ""))
            except (OSError, ValueError):
                sources.append("")
    return sources


def _spec_of(cfg: DataConfig):
    from segvggt.data.synthetic import SyntheticSpec

    return SyntheticSpec(
        width=cfg.synthetic_width, height=cfg.synthetic_height, frames=cfg.synthetic_frames,
        trajectory=cfg.synthetic_trajectory, sweep_degrees=tuple(cfg.synthetic_sweep_degrees),
        walls=cfg.synthetic_walls,
    )  # fmt: skip


def check_synthetic_root(cfg: DataConfig) -> bool:
    """True when cfg.root already holds both split files (the data is then used as it is), False when
    the synthetic rooms still have to be generated. Rooms rendered by this generator for another spec
    (size, frames, trajectory, seed) raise DataError in one line: training on orbit rooms left in the
    root of a sweep config would otherwise pass silently. Reads only, never touches the folder."""
    from segvggt.data.synthetic import SOURCE_PREFIX

    found, wanted = _rendered_sources(Path(cfg.root), cfg), _spec_of(cfg).source(cfg.seed)
    if found is None:
        return False
    for source in found:
        if source.startswith(SOURCE_PREFIX) and source != wanted:
            raise DataError(
                f"data root {cfg.root} holds synthetic rooms rendered as '{source}' but the config asks for "
                f"'{wanted}': delete that folder (it is regenerated) or set data.root to another folder"
            )
    return True


def ensure_synthetic(cfg: DataConfig, progress: bool = True) -> None:
    """Generate the synthetic dataset into cfg.root unless it is there (`check_synthetic_root`)."""
    if check_synthetic_root(cfg):
        return
    from segvggt.data.synthetic import generate

    log.info("generating the synthetic dataset into %s", cfg.root)
    generate(
        cfg.root, num_train=cfg.synthetic_num_train, num_val=cfg.synthetic_num_val, seed=cfg.seed,
        spec=_spec_of(cfg), workers=cfg.synthetic_workers, progress=progress,
    )  # fmt: skip


class SceneDataModule(L.LightningDataModule):
    """Train / val dataloaders over `cfg.root` (prepared format) yielding `SceneBatch`es.

    Validation picks each scene's frames like tools/eval.py (`SceneDataset.default_key`); build the
    module with `for_experiment` so the stride and frame cap come from the experiment's `eval` section.
    """

    def __init__(self, cfg: DataConfig):
        super().__init__()
        self.cfg = cfg
        self.train_set: SceneDataset | None = None
        self.val_set: SceneDataset | None = None
        self._resume_batches = 0

    def state_dict(self) -> dict:
        """Saved in every checkpoint: how many training batches this rank has consumed."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return {}
        return {"train_batches_done": int(trainer.global_step) * int(trainer.accumulate_grad_batches)}

    def load_state_dict(self, state_dict: dict) -> None:
        """On resume: the training batches continue where the checkpoint left them."""
        self._resume_batches = int(state_dict.get("train_batches_done", 0))

    @classmethod
    def for_experiment(cls, cfg) -> "SceneDataModule":
        """The data of an ExperimentConfig, validating with `eval.frame_stride` and `eval.max_frames`
        (the frames tools/eval.py evaluates) instead of data.val_frame_stride / data.val_frames."""
        return cls(
            dataclasses.replace(cfg.data, val_frame_stride=cfg.eval.frame_stride, val_frames=cfg.eval.max_frames)
        )

    def prepare_data(self) -> None:
        if self.cfg.benchmark == "synthetic":
            ensure_synthetic(self.cfg)

    def setup(self, stage: str | None = None) -> None:
        if self.cfg.benchmark == "synthetic":
            ensure_synthetic(self.cfg)  # also here: prepare_data is skipped when a DataModule is used alone
        elif not Path(self.cfg.root).is_dir():
            raise DataError(
                f"data root {self.cfg.root} does not exist; run the preparation tool for {self.cfg.benchmark}"
            )
        if stage in (None, "fit"):
            self.train_set = SceneDataset(self.cfg, self.cfg.train_split, train=True)
        if stage in (None, "fit", "validate"):
            self.val_set = SceneDataset(self.cfg, self.cfg.val_split, train=False)

    def _rank(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def _loader(self, dataset: SceneDataset, train: bool) -> DataLoader:
        rank, world_size = self._rank()
        workers = self.cfg.num_workers
        frames = None if train else [dataset.validation_frames(i) for i in range(len(dataset))]
        batch_sampler = make_batch_sampler(
            self.cfg, len(dataset), train=train, rank=rank, world_size=world_size, frames_per_scene=frames
        )
        if train and self._resume_batches:
            batch_sampler.start_at(self._resume_batches)
        return DataLoader(
            dataset,
            batch_sampler=batch_sampler,
            collate_fn=collate_scenes,
            num_workers=workers,
            worker_init_fn=_seed_worker if workers > 0 else None,
            persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(self.cfg.seed),
        )

    def train_dataloader(self) -> DataLoader:
        if self.train_set is None:
            self.setup("fit")
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        if self.val_set is None:
            self.setup("validate")
        return self._loader(self.val_set, train=False)

    def skipped_scenes(self) -> dict[str, int]:
        """Scene id -> skip count in this process (skip_bad_scenes=True); workers count their own."""
        out: dict[str, int] = {}
        for ds in (self.train_set, self.val_set):
            if ds is not None:
                for k, v in ds.skipped.items():
                    out[k] = out.get(k, 0) + v
        return out
