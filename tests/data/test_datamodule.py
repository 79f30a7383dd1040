"""Dynamic batching (caps, shared S and size, DDP split, determinism) and the DataModule."""

from __future__ import annotations

import pytest
import torch

from segvggt.data.batching import DynamicBatchSampler, ScenePermutation, collate_scenes
from segvggt.data.config import DataConfig
from segvggt.types import SceneBatch


def sampler(num_scenes=100, rank=0, world_size=1, **kw):
    order = ScenePermutation(num_scenes, shuffle=True, seed=3, rank=rank, world_size=world_size)
    args = dict(min_frames=2, max_frames=24, max_images_per_batch=48, image_size=518, aspect_range=(0.33, 1.0))
    return DynamicBatchSampler(order, **{**args, **kw})


def test_batches_respect_the_cap_and_share_shape():
    bs = sampler()
    for epoch in range(3):
        bs.set_epoch(epoch)
        seen, sizes = [], set()
        for batch in bs:
            shapes = {(k.frames, k.height, k.width) for k in batch}
            assert len(shapes) == 1  # one S and one (H, W) per batch
            S, H, W = shapes.pop()
            assert 2 <= S <= 24 and len(batch) * S <= 48 and len(batch) == min(48 // S, len(batch))
            assert W == 518 and H % 14 == 0 and 0.3 <= H / W <= 1.0
            sizes.add(H)
            seen += [k.scene for k in batch]
        assert sorted(seen) == list(range(100))  # every scene once per epoch
        assert len(sizes) > 3  # aspect ratios really vary
    assert len(bs) == len(list(bs))


def test_batches_are_deterministic_per_epoch():
    a, b = sampler(), sampler()
    a.set_epoch(4)
    b.set_epoch(4)
    assert a.plan() == b.plan()
    b.set_epoch(5)
    assert a.plan() != b.plan()


def test_ranks_split_scenes_and_agree_on_shapes():
    r0, r1 = sampler(num_scenes=101, rank=0, world_size=2), sampler(num_scenes=101, rank=1, world_size=2)
    p0, p1 = r0.plan(), r1.plan()
    assert len(p0) == len(p1)  # DDP: every rank runs the same number of steps
    for b0, b1 in zip(p0, p1):
        assert (b0[0].frames, b0[0].height) == (b1[0].frames, b1[0].height) and len(b0) == len(b1)
    s0, s1 = [k.scene for b in p0 for k in b], [k.scene for b in p1 for k in b]
    assert set(s0) | set(s1) == set(range(101)) and len(s0) == len(s1) == 51
    assert len(set(s0) & set(s1)) == 1  # the one padded scene


def test_fixed_aspect_and_small_frame_counts():
    bs = sampler(min_frames=1, max_frames=1, max_images_per_batch=4, image_size=112, fixed_aspect=0.75)
    plan = bs.plan()
    assert all(len(b) == 4 and b[0].height == 84 and b[0].width == 112 for b in plan)
    big = sampler(min_frames=60, max_frames=60)  # more frames than the cap: one scene per batch
    assert all(len(b) == 1 for b in big.plan())


def test_collate_rejects_mixed_shapes():
    from segvggt.data.dataset import SceneSample
    from segvggt.types import InstanceTargets

    def sample(S):
        none = torch.zeros(0, dtype=torch.long)
        empty = InstanceTargets(none, torch.zeros(0, S, 7, 7), torch.zeros(0, S), none)
        return SceneSample(
            torch.zeros(S, 3, 14, 14), torch.zeros(S, 14, 14), torch.zeros(S, 3, 4), torch.zeros(S, 3, 3),
            torch.zeros(S, 14, 14, dtype=torch.long), empty, "s", ["0"] * S,
        )  # fmt: skip

    batch = collate_scenes([sample(2), sample(2)])
    assert isinstance(batch, SceneBatch) and batch.images.shape == (2, 2, 3, 14, 14) and len(batch.targets) == 2
    with pytest.raises(ValueError, match="one S and image size"):
        collate_scenes([sample(2), sample(3)])


def test_datamodule_generates_synthetic_data_and_yields_batches(tmp_path):
    from segvggt.data.datamodule import SceneDataModule

    cfg = DataConfig(
        root=str(tmp_path / "synthetic"), benchmark="synthetic", image_size=56, fixed_aspect=0.75,
        min_frames=2, max_frames=3, max_images_per_batch=6, val_frames=3, synthetic_num_train=3,
        synthetic_num_val=1, synthetic_width=56, synthetic_height=42, synthetic_frames=4, fov_sampling_prob=0.5,
    )  # fmt: skip
    dm = SceneDataModule(cfg)
    dm.setup("fit")
    assert (tmp_path / "synthetic" / "splits" / "train.txt").is_file()
    loader = dm.train_dataloader()
    loader.batch_sampler.sampler.set_epoch(1)  # what Lightning calls each epoch
    batches = list(loader)
    assert sum(b.batch_size for b in batches) == 3
    for b in batches:
        assert b.images.shape[2:] == (3, 42, 56) and b.batch_size * b.num_views <= 6
        assert all(t.masks.shape[1:] == (b.num_views, 21, 28) for t in b.targets)
    (val,) = list(dm.val_dataloader())
    assert val.images.shape == (1, 3, 3, 42, 56) and val.frame_names == [["000000", "000001", "000002"]]
    assert val.targets[0].num_instances >= 1
