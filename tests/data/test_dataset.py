"""SceneDataset on hand-made prepared scenes: samples, targets, determinism and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segvggt.data.config import DataConfig
from segvggt.data.dataset import SceneDataset
from segvggt.data.errors import DataError
from segvggt.data.prepared import write_scene, write_split
from segvggt.data.sampling import SampleKey

HW = (28, 42)


def write_toy_scene(root, scene_id, *, frames=4, labels=None, seed=0):
    """Frames of a flat scene with instance 1 (table), 2 (chair) and 3 (wall) as rectangles."""
    rng = np.random.default_rng(seed)
    H, W = HW
    colors, depths, instances, poses = [], [], [], []
    for f in range(frames):
        colors.append(rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8))
        depths.append(np.full((H, W), 2.0 + 0.1 * f, dtype=np.float32))
        ids = np.zeros((H, W), dtype=np.int64)
        ids[2:10, 2 + f : 12 + f] = 1
        ids[14:24, 20:30] = 2
        ids[:, 36:] = 3
        instances.append(ids)
        poses.append(np.concatenate([np.eye(3), [[-0.1 * f], [0.0], [0.0]]], axis=1))
    K = np.array([[30.0, 0, (W - 1) / 2], [0, 30.0, (H - 1) / 2], [0, 0, 1]])
    write_scene(
        root, scene_id, benchmark="synthetic", source="test", frame_names=[f"{f:06d}" for f in range(frames)],
        colors=colors, depths=depths, instances=instances, cam_from_world=np.stack(poses),
        intrinsics=np.repeat(K[None], frames, axis=0), instance_labels=labels or {1: 3, 2: 4, 3: 1},
        points=np.zeros((3, 3)), superpoints=np.zeros(3), point_gt=np.array([3001, 4002, 1003]), color_format="png",
    )  # fmt: skip


@pytest.fixture
def root(tmp_path):
    for i in range(3):
        write_toy_scene(tmp_path, f"toy{i}", seed=i)
    write_split(tmp_path, "train", ["toy0", "toy1", "toy2"])
    return tmp_path


def cfg_of(root, **kw):
    return DataConfig(root=str(root), benchmark="synthetic", fixed_aspect=2 / 3, image_size=42, **kw)


def test_sample_shapes_targets_and_determinism(root):
    ds = SceneDataset(cfg_of(root, max_frame_gap=1), "train", train=True)
    key = SampleKey(1, 3, 28, 28, seed=5)
    s = ds[key]
    assert s.images.shape == (3, 3, 28, 28) and s.depth.shape == (3, 28, 28) and s.instance_ids.shape == (3, 28, 28)
    assert s.cam_from_world.shape == (3, 3, 4) and s.intrinsics.shape == (3, 3, 3)
    assert s.scene_id == "toy1" and len(s.frame_names) == 3
    assert set(torch.unique(s.instance_ids).tolist()) <= {0, 1, 2}  # the wall (3) is background
    t = s.targets
    assert t.masks.shape[1:] == (3, 14, 14) and set(t.instance_ids.tolist()) <= {1, 2}
    assert dict(zip(t.instance_ids.tolist(), t.labels.tolist())) == {1: 0, 2: 1}  # table -> 0, chair -> 1
    torch.testing.assert_close(t.visibility.sum(1), torch.ones(len(t.labels)))
    again = ds[key]
    assert torch.equal(s.images, again.images) and s.frame_names == again.frame_names
    # depth follows the chosen frames (frame f stores depth 2 + 0.1 f)
    expected = torch.tensor([2.0 + 0.1 * int(n) for n in s.frame_names])
    torch.testing.assert_close(s.depth[:, 14, 14], expected, atol=1e-3, rtol=0)


def test_validation_sample_is_the_stored_frames(root):
    from PIL import Image

    ds = SceneDataset(cfg_of(root, val_frames=2, val_frame_stride=2, color_jitter=0.5), "train", train=False)
    s = ds[0]  # the default validation key: 2 frames at 28 x 42 = the stored size
    assert s.frame_names == ["000000", "000002"] and s.images.shape == (2, 3, 28, 42)
    raw = np.array(Image.open(root / "toy0" / "color" / "000002.png"))
    torch.testing.assert_close(s.images[1], torch.from_numpy(raw).permute(2, 0, 1).float() / 255)  # no jitter


def test_split_naming_absent_scene(root):
    write_split(root, "bad", ["toy0", "ghost"])
    with pytest.raises(DataError, match="ghost"):
        SceneDataset(cfg_of(root), "bad", train=True)
    ds = SceneDataset(cfg_of(root, skip_bad_scenes=True), "bad", train=True)
    assert len(ds) == 1 and ds.skipped["ghost"] == 1


def test_unreadable_image(root):
    (root / "toy1" / "color" / "000000.png").write_bytes(b"not a png")
    (root / "toy1" / "color" / "000001.png").write_bytes(b"not a png")
    ds = SceneDataset(cfg_of(root, max_frame_gap=1), "train", train=True)
    with pytest.raises(DataError, match="toy1/color"):
        ds[SampleKey(1, 4, 28, 42, seed=0)]
    ds = SceneDataset(cfg_of(root, skip_bad_scenes=True), "train", train=True)
    s = ds[SampleKey(1, 4, 28, 42, seed=0)]
    assert s.scene_id == "toy2" and ds.skipped == {"toy1": 1}


def test_depth_and_color_count_mismatch(root):
    (root / "toy0" / "depth" / "000003.png").unlink()
    ds = SceneDataset(cfg_of(root), "train", train=True)
    with pytest.raises(DataError, match="4 frames but the folders hold 4 color, 3 depth, 4 instance"):
        ds[SampleKey(0, 2, 28, 42, seed=0)]


def test_scene_without_instances(tmp_path):
    write_toy_scene(tmp_path, "walls_only", labels={1: 1, 2: 2, 3: 1})
    write_split(tmp_path, "train", ["walls_only"])
    ds = SceneDataset(cfg_of(tmp_path), "train", train=True)
    with pytest.raises(DataError, match="no instance of a synthetic instance class"):
        ds[SampleKey(0, 2, 28, 42, seed=0)]
    ds = SceneDataset(cfg_of(tmp_path, skip_bad_scenes=True), "train", train=True)
    with pytest.raises(DataError, match="every scene"):
        ds[SampleKey(0, 2, 28, 42, seed=0)]
    assert ds.skipped["walls_only"] == 1


def test_benchmark_mismatch(root):
    ds = SceneDataset(DataConfig(root=str(root), benchmark="scannet"), "train", train=True)
    with pytest.raises(DataError, match="benchmark 'synthetic' but the config says 'scannet'"):
        ds[0]


def test_fov_sampling_uses_the_reference_first(root):
    ds = SceneDataset(cfg_of(root, fov_sampling_prob=1.0, fov_threshold=0.25), "train", train=True)
    s = ds[SampleKey(0, 3, 28, 42, seed=3)]
    names = [int(n) for n in s.frame_names]
    assert len(set(names)) == 3 and names[1:] == sorted(names[1:])
