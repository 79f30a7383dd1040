"""The synthetic rooms: determinism, caching, camera/depth/instance consistency, point GT."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from segvggt.data.prepared import PreparedScene, read_split
from segvggt.data.synthetic import SyntheticSpec, generate, look_at
from segvggt.geometry import depth_to_world_points, project_to_pixels

SPEC = SyntheticSpec(width=112, height=84, frames=10)


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate(root, num_train=1, num_val=0, seed=3, spec=SPEC, progress=False)
    return PreparedScene(root, "synth_train_00000")


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_cache_is_reused(tmp_path):
    spec = SyntheticSpec(width=56, height=42, frames=2)
    first = generate(tmp_path / "a", num_train=1, num_val=1, seed=11, spec=spec, progress=False)
    generate(tmp_path / "b", num_train=1, num_val=1, seed=11, spec=spec, progress=False)
    files_a, files_b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first.generated == 2 and len(files_a) > 10
    assert files_a == files_b
    again = generate(tmp_path / "a", num_train=1, num_val=1, seed=11, spec=spec, progress=False)
    assert (again.generated, again.cached) == (0, 2)
    other = generate(tmp_path / "c", num_train=1, num_val=0, seed=12, spec=spec, progress=False)
    assert other.generated == 1
    assert _files(tmp_path / "c")["synth_train_00000/points.npy"] != files_a["synth_train_00000/points.npy"]
    assert read_split(tmp_path / "a", "val") == ["synth_val_00000"]


def test_depth_is_camera_z_not_ray_length():
    from segvggt.data import primitives as prim
    from segvggt.data.render import Appearance, Lighting, build_scene, render_view

    wall = prim.slab_mesh((3.0, -10.0, -10.0), (3.1, 10.0, 10.0))  # the plane x = 3 facing the camera
    look = Appearance(
        albedo=np.array([[0.5, 0.5, 0.5]]), pattern=np.array([0]), period=np.array([1.0]),
        amplitude=np.array([0.0]), axis=np.array([[1.0, 0, 0]]), instance=np.array([7]),
    )  # fmt: skip
    E = look_at(np.zeros(3), np.array([1.0, 0.0, 0.0]))
    K = np.array([[20.0, 0, 13.5], [0, 20.0, 9.5], [0, 0, 1]])  # ~70 degree field of view on 28 x 20
    color, depth, instance = render_view(build_scene([wall]), look, Lighting(np.array([0, 0, 1.0])), E, K, (20, 28))
    np.testing.assert_allclose(depth, 3.0, atol=1e-4)  # a corner ray is ~1.3x longer than 3 m
    assert (instance == 7).all() and color.shape == (20, 28, 3)


def test_pixel_instances_match_the_nearest_gt_point(room):
    gt = room.point_gt()
    tree = cKDTree(room.points())
    agree, total = 0, 0
    for f in range(len(room)):
        depth = torch.from_numpy(room.depth(f))
        E, K = torch.from_numpy(room.frames[f].cam_from_world), torch.from_numpy(room.frames[f].intrinsics)
        world = depth_to_world_points(depth.double(), E, K).numpy()
        valid = depth.numpy() > 0
        _, nearest = tree.query(world[valid])
        agree += int((gt[nearest] % 1000 == room.instance(f)[valid]).sum())
        total += int(valid.sum())
    assert total > 0.9 * len(room) * SPEC.width * SPEC.height  # a closed room: almost every ray hits
    assert agree / total > 0.95


def test_projected_gt_points_hit_their_instance(room):
    points, inst = torch.from_numpy(room.points()).double(), room.point_gt() % 1000
    hits, seen_instances = [], set()
    for f in range(len(room)):
        E, K = torch.from_numpy(room.frames[f].cam_from_world), torch.from_numpy(room.frames[f].intrinsics)
        uv, z = project_to_pixels(points, E, K)
        px = torch.floor(uv + 0.5).long()
        ok = (z > 0) & (px[:, 0] >= 0) & (px[:, 0] < SPEC.width) & (px[:, 1] >= 0) & (px[:, 1] < SPEC.height)
        idx = torch.nonzero(ok).squeeze(1).numpy()
        u, v = px[idx, 0].numpy(), px[idx, 1].numpy()
        depth, ids = room.depth(f)[v, u], room.instance(f)[v, u]
        visible = np.abs(depth - z[idx].numpy()) < 0.02  # not hidden behind something else
        obj = visible & (inst[idx] > 0)
        hits.append(ids[obj] == inst[idx][obj])
        seen_instances |= set(inst[idx][obj].tolist())
    hits = np.concatenate(hits)
    assert len(hits) > 200 and hits.mean() > 0.95
    assert len(seen_instances) >= 2


def test_every_object_is_seen_from_several_views(room):
    views = {i: sum(int((room.instance(f) == i).any()) for f in range(len(room))) for i in room.instance_labels}
    assert min(views.values()) >= 1 and np.mean(list(views.values())) >= 2


def test_point_gt_labels_and_superpoints(room):
    gt, sp = room.point_gt(), room.superpoints()
    label, inst = gt // 1000, gt % 1000
    assert set(np.unique(label[inst == 0])) == {1, 2}  # walls/ceiling and floor are void
    assert set(np.unique(label[inst > 0])) <= set(range(3, 13))
    assert {int(i): int(l) for i, l in zip(inst[inst > 0], label[inst > 0])} == room.instance_labels
    assert 3 <= len(room.instance_labels) <= 7
    for s in np.unique(sp):
        assert len(np.unique(gt[sp == s])) == 1  # a superpoint never spans two instances
    assert room.image_size == (84, 112) and len(room) == 10


def _relative_rotation_degrees(cams: np.ndarray) -> np.ndarray:
    """[F, 3, 4] cam_from_world -> [F, F] angle of R_i R_j^T in degrees."""
    R = cams[:, :, :3]
    rel = np.einsum("iab,jcb->ijac", R, R)
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def test_sweep_cameras_turn_within_the_arc_and_share_what_they_see(tmp_path):
    spec = SyntheticSpec(width=56, height=42, frames=6, trajectory="sweep", sweep_degrees=(60.0, 60.0))
    generate(tmp_path, num_train=1, num_val=0, seed=5, spec=spec, progress=False)
    room = PreparedScene(tmp_path, "synth_train_00000")
    assert "sweep 60-60 deg" in room.meta["source"]
    angles = _relative_rotation_degrees(room.cam_from_world())
    steps = np.diag(angles, k=1)
    # 60 degrees of arc in 5 steps, all views aimed near one spot: ~12 degrees per step, and no
    # pair turns much more than the arc (the aim wobbles by a few degrees)
    assert 4.0 < steps.min() and steps.max() < 25.0 and angles.max() < 80.0
    centres = -np.einsum("fba,fb->fa", room.cam_from_world()[:, :, :3], room.cam_from_world()[:, :, 3])
    assert (centres[:, 2] > 1.2).all() and (centres[:, 2] < 1.8).all()  # eye height
    # the first view's world points land inside the last view's image for a good share of pixels
    from segvggt.data.sampling import frustum_overlap

    depth = torch.from_numpy(room.depth(0)).double()
    E0, K = torch.from_numpy(room.frames[0].cam_from_world), torch.from_numpy(room.frames[0].intrinsics)
    world = depth_to_world_points(depth, E0, K)[depth > 0]
    overlap = frustum_overlap(world, room.frames[-1].cam_from_world, room.frames[-1].intrinsics, room.image_size)
    assert overlap > 0.3


def test_trajectory_is_checked():
    with pytest.raises(ValueError, match="trajectory"):
        SyntheticSpec(trajectory="spiral")
    with pytest.raises(ValueError, match="sweep_degrees"):
        SyntheticSpec(trajectory="sweep", sweep_degrees=(90.0, 30.0))


def test_ensure_synthetic_refuses_rooms_rendered_for_another_trajectory(tmp_path):
    from segvggt.data.config import DataConfig
    from segvggt.data.datamodule import ensure_synthetic
    from segvggt.data.errors import DataError

    small = dict(root=str(tmp_path), synthetic_num_train=1, synthetic_num_val=1, synthetic_width=56,
                 synthetic_height=42, synthetic_frames=3)  # fmt: skip
    ensure_synthetic(DataConfig(**small), progress=False)
    files = _files(tmp_path)
    assert "sweep" not in files["synth_val_00000/scene.json"].decode()
    ensure_synthetic(DataConfig(**small), progress=False)  # same spec: used as it is
    sweep = DataConfig(**small, synthetic_trajectory="sweep", synthetic_sweep_degrees=(40.0, 40.0))
    with pytest.raises(DataError, match=r"rendered as .*3-7 objects\)' but the config asks for .*sweep 40-40 deg"):
        ensure_synthetic(sweep, progress=False)
    assert _files(tmp_path) == files  # nothing touched
    # data that this generator did not render (a user's own prepared scenes) is used as it is
    for meta in tmp_path.glob("synth_*/scene.json"):
        meta.write_text(meta.read_text().replace("segvggt.data.synthetic v", "my scanner v"))
    ensure_synthetic(sweep, progress=False)
    # an empty root is generated with the sweep
    ensure_synthetic(DataConfig(**{**small, "root": str(tmp_path / "new")}, synthetic_trajectory="sweep",
                                synthetic_sweep_degrees=(40.0, 40.0)), progress=False)  # fmt: skip
    assert "sweep 40-40 deg" in (tmp_path / "new" / "synth_val_00000" / "scene.json").read_text()


def test_data_config_checks_the_trajectory():
    from segvggt.data.config import DataConfig

    with pytest.raises(ValueError, match="synthetic_trajectory"):
        DataConfig(synthetic_trajectory="spiral")
    with pytest.raises(ValueError, match="synthetic_sweep_degrees"):
        DataConfig(synthetic_sweep_degrees=(200.0, 100.0))


def test_distinct_walls_get_a_hue_each_and_uniform_rooms_are_unchanged():
    from segvggt.data.synthetic import WALL, make_room

    def walls(spec):
        room, _ = make_room(np.random.default_rng(7), spec)
        parts = [i for i, label in enumerate(room.part_label) if label == WALL][1:5]  # [0] is the ceiling
        return room, room.look.albedo[parts], room.look.amplitude[parts]

    uniform, distinct = SyntheticSpec(frames=4), SyntheticSpec(frames=4, walls="distinct")
    assert uniform.source(0) == SyntheticSpec(frames=4, walls="uniform").source(0)
    assert "distinct walls" in distinct.source(0) and "walls" not in uniform.source(0)
    room_u, albedo_u, amp_u = walls(uniform)
    room_d, albedo_d, amp_d = walls(distinct)
    import colorsys

    hues = sorted(colorsys.rgb_to_hsv(*rgb)[0] for rgb in albedo_d)
    gaps = np.diff(hues + [hues[0] + 1.0])
    assert gaps.min() > 0.25 - 2 * 0.04 - 1e-6  # a quarter turn apart, +-0.04 jitter each
    assert (amp_d == 0.15).all() and (amp_u == 0.06).all()
    # the uniform walls keep one tint within +-5 % (the rooms rendered before the option existed)
    assert np.abs(albedo_u / albedo_u[0] - 1).max() < 0.15
    # only the walls' draws differ: the room size (drawn first) agrees
    assert np.allclose(room_u.size, room_d.size)
    with pytest.raises(ValueError, match="walls"):
        SyntheticSpec(walls="striped")
