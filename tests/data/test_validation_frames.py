"""Validation during training selects each scene's frames exactly like tools/eval.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from segvggt.config import experiment_from_dict
from segvggt.data.batching import ValidationBatchSampler
from segvggt.data.dataset import SceneDataset
from segvggt.data.prepared import write_split
from segvggt.data.sampling import evaluation_frame_count
from segvggt.evaluation.run_eval import eval_data_config

sys.path.insert(0, str(Path(__file__).parent))
from test_dataset import write_toy_scene  # noqa: E402


def test_evaluation_frame_count():
    assert evaluation_frame_count(100, 20, 0) == 5  # every 20th of 100 frames, no cap
    assert evaluation_frame_count(101, 20, 0) == 6  # frames 0, 20, ..., 100
    assert evaluation_frame_count(100, 1, 24) == 24
    assert evaluation_frame_count(3, 1, 24) == 3 and evaluation_frame_count(0, 5, 0) == 1


def test_validation_batches_group_equal_frame_counts_and_split_ranks():
    frames = [3, 3, 3, 5, 5, 2]
    one = ValidationBatchSampler(frames, height=14, width=28, max_images_per_batch=6)
    assert [[k.scene for k in b] for b in one.plan()] == [[0, 1], [2], [3], [4], [5]]
    assert all(k.frames == frames[k.scene] and (k.height, k.width) == (14, 28) and not k.train
               for b in one.plan() for k in b)  # fmt: skip
    r0 = ValidationBatchSampler(frames, height=14, width=28, max_images_per_batch=6, rank=0, world_size=2)
    r1 = ValidationBatchSampler(frames, height=14, width=28, max_images_per_batch=6, rank=1, world_size=2)
    assert [[k.scene for k in b] for b in r0] == [[0, 1], [3], [5]]
    assert [[k.scene for k in b] for b in r1] == [[2], [4], [0, 1]]  # padded: both ranks run 3 steps
    with pytest.raises(ValueError, match="S >= 1"):
        ValidationBatchSampler([2, 0], height=14, width=28, max_images_per_batch=6)


@pytest.fixture
def experiment(tmp_path):
    """Scenes of 4, 9 and 6 frames; evaluation every 2nd frame, at most 4 (ScanNet200 style: stride and cap)."""
    for i, n in enumerate((4, 9, 6)):
        write_toy_scene(tmp_path, f"toy{i}", frames=n, seed=i)
    write_split(tmp_path, "val", ["toy0", "toy1", "toy2"])
    write_split(tmp_path, "train", ["toy0"])  # present, so the DataModule generates no synthetic data
    return experiment_from_dict({
        "data": {"root": str(tmp_path), "benchmark": "synthetic", "fixed_aspect": 2 / 3, "image_size": 42,
                 "val_frames": 24, "val_frame_stride": 1, "max_images_per_batch": 8},
        "model": {"num_classes": 10},
        "eval": {"split": "val", "frame_stride": 2, "max_frames": 4},
    })  # fmt: skip


def test_training_validation_uses_the_evaluation_frames(experiment):
    from segvggt.data.datamodule import SceneDataModule

    dm = SceneDataModule.for_experiment(experiment)
    dm.setup("validate")
    seen = {}
    for batch in dm.val_dataloader():
        for scene_id, names in zip(batch.scene_ids, batch.frame_names):
            seen[scene_id] = names
    # every 2nd frame, at most 4: 4 frames -> 0, 2; 9 -> 0, 2, 4, 6; 6 -> 0, 2, 4
    assert seen == {
        "toy0": ["000000", "000002"],
        "toy1": ["000000", "000002", "000004", "000006"],
        "toy2": ["000000", "000002", "000004"],
    }
    # and these are the frames tools/eval.py evaluates (evaluate_model reads default_key per scene)
    evaluation = SceneDataset(eval_data_config(experiment), "val", train=False)
    for index, scene_id in enumerate(evaluation.scene_ids):
        assert evaluation[evaluation.default_key(index)].frame_names == seen[scene_id]
    # the plain data config (data.val_frames 24, stride 1) would have taken every frame instead
    plain = SceneDataModule(experiment.data)
    plain.setup("validate")
    assert max(b.num_views for b in plain.val_dataloader()) == 9
