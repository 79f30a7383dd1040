import math

import pytest
import torch

from segvggt.backbone import extri_intri_to_pose_encoding
from segvggt.geometry import depth_to_world_points
from segvggt.losses.config import LossConfig
from segvggt.losses.geometry_losses import (
    camera_loss,
    camera_loss_from_encoding,
    depth_loss,
    filter_by_quantile,
    geometry_losses,
    multi_scale_gradient_loss,
)
from segvggt.losses.normalization import GeometryTargets, normalize_scene, normalize_targets, teacher_targets

STAGE_MEAN = (1 + 0.6 + 0.36 + 0.216) / 4  # gamma^(n-1-k) averaged over n = 4 stages


def _rotation(axis_angle: torch.Tensor) -> torch.Tensor:
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(axis_angle.shape[:-1] + (3, 3))
    return torch.linalg.matrix_exp(skew)


def _scene(B=2, S=3, H=6, W=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    R = _rotation(0.3 * torch.randn(B, S, 3, generator=g))
    t = torch.randn(B, S, 3, 1, generator=g)
    cams = torch.cat([R, t], -1)
    K = torch.tensor([[10.0, 0, W / 2], [0, 9.0, H / 2], [0, 0, 1]]).expand(B, S, 3, 3).clone()
    depth = 1 + 2 * torch.rand(B, S, H, W, generator=g)
    depth[:, :, 0, 0] = 0  # invalid pixels
    return cams, K, depth


def _mean_valid_distance(scene, K):
    pts = depth_to_world_points(scene.depth, scene.cam_from_world, K)
    valid = scene.depth > 0
    return (pts.norm(dim=-1) * valid).flatten(1).sum(1) / valid.flatten(1).sum(1)


def test_normalization_camera0_identity_and_unit_mean_distance():
    cams, K, depth = _scene()
    scene = normalize_scene(cams, K, depth)
    eye = torch.cat([torch.eye(3), torch.zeros(3, 1)], -1)
    torch.testing.assert_close(scene.cam_from_world[:, 0], eye.expand(2, 3, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(_mean_valid_distance(scene, K), torch.ones(2), atol=1e-4, rtol=0)
    # the returned points are the normalised scene's own unprojection
    pts = depth_to_world_points(scene.depth, scene.cam_from_world, K) * (scene.depth > 0)[..., None]
    torch.testing.assert_close(scene.world_points, pts, atol=1e-4, rtol=0)


def test_normalization_removes_world_similarity():
    cams, K, depth = _scene(B=1)
    G = torch.eye(4)
    G[:3, :3] = _rotation(torch.tensor([0.2, -0.5, 0.9]))
    G[:3, 3] = torch.tensor([3.0, -1.0, 2.0])
    homog = torch.cat([cams, torch.tensor([0, 0, 0, 1.0]).expand(1, 3, 1, 4)], -2)
    moved = (homog @ torch.linalg.inv(G))[..., :3, :]  # same cameras, world moved rigidly
    moved[..., 3] *= 2.5  # and scaled (depths scale with it)
    a, b = normalize_scene(cams, K, depth), normalize_scene(moved, K, depth * 2.5)
    torch.testing.assert_close(a.cam_from_world, b.cam_from_world, atol=1e-4, rtol=0)
    torch.testing.assert_close(a.depth, b.depth, atol=1e-5, rtol=0)
    torch.testing.assert_close(b.scale / a.scale, torch.tensor([2.5]), atol=1e-4, rtol=0)


def test_camera_loss_known_offsets_and_stage_weights():
    gt = torch.randn(2, 3, 9)
    valid = torch.tensor([True, True])
    assert float(camera_loss_from_encoding([gt] * 4, gt, valid)["loss_camera"]) == 0.0
    shifted = gt.clone()
    shifted[..., 0] += 0.1  # only t_x: mean over the 3 T elements = 0.1 / 3
    out = camera_loss_from_encoding([shifted] * 4, gt, valid)
    assert abs(float(out["camera_T"]) - STAGE_MEAN * 0.1 / 3) < 1e-6
    assert abs(float(out["loss_camera"]) - STAGE_MEAN * 0.1 / 3) < 1e-6
    fov = gt.clone()
    fov[..., 7:] += 0.2
    out = camera_loss_from_encoding([fov] * 4, gt, valid)
    assert abs(float(out["loss_camera"]) - 0.5 * STAGE_MEAN * 0.2) < 1e-6
    first_only = camera_loss_from_encoding([fov, gt, gt, gt], gt, valid)
    assert abs(float(first_only["camera_fov"]) - 0.6**3 * 0.2 / 4) < 1e-6
    far = gt.clone()
    far[..., :3] += 500.0  # translation errors clamp at 100
    assert abs(float(camera_loss_from_encoding([far] * 4, gt, valid)["camera_T"]) - STAGE_MEAN * 100) < 1e-3


def test_camera_loss_ignores_invalid_scenes():
    gt = torch.zeros(2, 2, 9)
    pred = gt.clone()
    pred[1] += 7.0  # scene 1 is wrong but invalid
    out = camera_loss_from_encoding([pred] * 4, gt, torch.tensor([True, False]))
    assert float(out["loss_camera"]) == 0.0
    none = camera_loss_from_encoding([pred.requires_grad_()] * 4, gt, torch.tensor([False, False]))
    none["loss_camera"].backward()
    assert none["loss_camera"].item() == 0.0 and pred.grad is not None


def test_camera_loss_from_cameras_zero_for_perfect_prediction():
    cams, K, depth = _scene(H=12, W=12)
    valid = depth > 0  # 143 valid pixels per frame > 100
    gt = extri_intri_to_pose_encoding(cams, K, (12, 12))
    out = camera_loss([gt] * 4, cams, K, (12, 12), valid)
    assert float(out["loss_camera"]) < 1e-6
    shifted = gt.clone()
    shifted[..., 1] += 0.3
    out = camera_loss([shifted] * 4, cams, K, (12, 12), valid)
    assert abs(float(out["loss_camera"]) - STAGE_MEAN * 0.1) < 1e-5
    few = valid.clone()
    few[:, 0] = False  # first frame has no valid point -> no scene counts
    assert float(camera_loss([shifted] * 4, cams, K, (12, 12), few)["loss_camera"]) == 0.0


def _depth_case(residual: torch.Tensor, conf_value: float = 1.0):
    gt = 1 + torch.rand(1, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    pred = (gt + residual)[..., None]
    return depth_loss(pred, torch.full_like(gt, conf_value), gt, torch.ones_like(gt, dtype=torch.bool))


def test_depth_loss_constant_offset():
    out = _depth_case(torch.full((1, 2, 8, 8), 0.5))
    assert abs(float(out["depth_reg"]) - 0.5) < 1e-6 and abs(float(out["depth_conf"]) - 0.5) < 1e-6
    assert abs(float(out["depth_grad"])) < 1e-6 and abs(float(out["loss_depth"]) - 1.0) < 1e-6
    out = _depth_case(torch.full((1, 2, 8, 8), 0.5), conf_value=math.e)
    assert abs(float(out["depth_conf"]) - (0.5 * math.e - 0.2)) < 1e-5


def test_depth_loss_gradient_term_on_a_ramp():
    residual = 0.1 * torch.arange(8.0).expand(1, 2, 8, 8)  # residual grows along x
    out = _depth_case(residual)
    # scale 1: 2*8*7 pairs * 0.1 / 128 px; scale 2: 2*4*3 * 0.2 / 32; scale 4: 2*2*1 * 0.4 / 8; scale 8: 0
    expected = (2 * 8 * 7 * 0.1 / 128 + 2 * 4 * 3 * 0.2 / 32 + 2 * 2 * 1 * 0.4 / 8 + 0.0) / 4
    assert abs(float(out["depth_grad"]) - expected) < 1e-6
    assert abs(float(out["depth_reg"]) - 0.35) < 1e-6
    # masked pixels break the pairs they belong to
    mask = torch.ones(2, 8, 8, dtype=torch.bool)
    mask[:, :, 4:] = False
    one_scale = multi_scale_gradient_loss(residual.reshape(2, 8, 8, 1), mask, scales=1)
    assert abs(float(one_scale) - 2 * 8 * 3 * 0.1 / 64) < 1e-6


def test_depth_loss_too_few_valid_pixels_is_zero_and_connected():
    pred = torch.ones(1, 1, 8, 8, 1, requires_grad=True)
    valid = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    valid[..., :2, :] = True
    out = depth_loss(pred, torch.ones(1, 1, 8, 8), torch.full((1, 1, 8, 8), 3.0), valid)
    out["loss_depth"].backward()
    assert out["loss_depth"].item() == 0.0 and pred.grad is not None


def test_filter_by_quantile_keeps_values_below_the_98th_percentile():
    values = torch.arange(2000.0) / 100  # k = round(0.98 * 1999) + 1 = 1960 -> threshold 19.59
    kept = filter_by_quantile(values, 0.98)
    assert kept.numel() == 1959 and float(kept.max()) == pytest.approx(19.58)
    small = torch.arange(500.0)
    assert torch.equal(filter_by_quantile(small, 0.98), small)  # <= 1000 elements: untouched, unclamped


def test_geometry_losses_zero_for_prediction_in_the_normalised_frame():
    cams, K, depth = _scene(B=1, S=2, H=12, W=12)
    targets = GeometryTargets(cams, K, depth, depth > 0)
    norm = normalize_targets(targets)
    pose = extri_intri_to_pose_encoding(norm.cam_from_world, K, (12, 12))
    conf = torch.ones_like(depth)
    outputs = {"pose_enc_list": [pose] * 4, "depth": norm.depth[..., None], "depth_conf": conf}
    losses = geometry_losses(outputs, targets, LossConfig())
    assert float(losses["loss_camera"]) < 1e-5 and float(losses["loss_depth"]) < 1e-5
    raw = {"pose_enc_list": [extri_intri_to_pose_encoding(cams, K, (12, 12))] * 4, "depth": depth[..., None],
           "depth_conf": torch.ones_like(depth)}
    assert float(geometry_losses(raw, targets, LossConfig())["loss_depth"]) > 0.1  # targets were normalised


def test_teacher_targets_decode_cameras_and_depth():
    cams, _, depth = _scene(B=1, S=2, H=6, W=8)
    K = torch.tensor([[10.0, 0, 4.0], [0, 9.0, 3.0], [0, 0, 1]]).expand(1, 2, 3, 3)  # centred principal point
    teacher = {"pose_enc": extri_intri_to_pose_encoding(cams, K, (6, 8)), "depth": depth[..., None],
               "depth_conf": torch.full_like(depth, 2.0)}
    out = teacher_targets(teacher, (6, 8))
    torch.testing.assert_close(out.cam_from_world, cams, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.intrinsics, K, atol=1e-4, rtol=0)
    assert torch.equal(out.valid, depth > 0) and torch.equal(out.depth, depth)
    assert not teacher_targets(teacher, (6, 8), min_conf=3.0).valid.any()


def test_ground_truth_targets_mark_invalid_depth():
    from segvggt.losses.normalization import ground_truth_targets
    from segvggt.types import SceneBatch

    cams, K, depth = _scene(B=1, S=2, H=4, W=4)
    depth[0, 1, 2, 2] = float("nan")
    ids = torch.zeros(1, 2, 4, 4, dtype=torch.int64)
    batch = SceneBatch(torch.zeros(1, 2, 3, 4, 4), depth, cams, K, ids, [])
    t = ground_truth_targets(batch)
    assert not t.valid[0, 1, 2, 2] and not t.valid[0, 0, 0, 0] and int(t.valid.sum()) == 2 * 16 - 3
    assert torch.isfinite(t.depth).all() and float(t.depth[0, 1, 2, 2]) == 0.0


def test_geometry_losses_skip_switched_off_heads():
    cams, K, depth = _scene(B=1, S=2, H=12, W=12)
    targets = GeometryTargets(cams, K, depth, depth > 0)
    only_depth = {"depth": depth[..., None], "depth_conf": torch.ones_like(depth)}
    assert "loss_camera" not in geometry_losses(only_depth, targets, LossConfig())


def test_point_loss_zero_for_the_normalised_scene_points_and_offset_otherwise():
    cams, K, depth = _scene(B=1, S=2, H=12, W=12)
    targets = GeometryTargets(cams, K, depth, depth > 0)
    scene = normalize_scene(cams, K, depth)  # camera-0-frame points at unit mean distance
    conf = torch.ones_like(depth)
    exact = {"world_points": scene.world_points, "world_points_conf": conf}
    losses = geometry_losses(exact, targets, LossConfig())
    assert set(losses) == {"loss_point", "point_conf", "point_reg", "point_grad"}
    assert float(losses["loss_point"]) < 1e-5
    # every point moved by (0.3, 0, 0.4): residual distance 0.5 everywhere, no gradient term
    moved = {"world_points": scene.world_points + torch.tensor([0.3, 0.0, 0.4]), "world_points_conf": conf}
    out = geometry_losses(moved, targets, LossConfig())
    assert float(out["point_reg"]) == pytest.approx(0.5, abs=1e-5)
    assert float(out["point_conf"]) == pytest.approx(0.5, abs=1e-5)  # gamma r c - alpha log c at c = 1
    assert float(out["point_grad"]) == pytest.approx(0.0, abs=1e-6)
    assert "loss_point" in LossConfig(w_point=1.0).loss_weights()


def test_point_loss_needs_the_point_head():
    from segvggt.config import ConfigError, experiment_from_dict

    with pytest.raises(ConfigError, match="enable_point"):
        experiment_from_dict({
            "geometry_supervision": "gt", "loss": {"w_point": 1.0},
            "data": {"benchmark": "synthetic"}, "model": {"num_classes": 10, "backbone": {"vggt": {"enable_point": False}}},
        })  # fmt: skip
