"""Depth metrics, pose AUC and Sim(3) alignment on known answers."""

import math

import numpy as np
import pytest
import torch

from segvggt.evaluation.alignment import Sim3, align_predicted_cameras, transform_cameras
from segvggt.evaluation.geometry_metrics import (
    constant_translation_poses,
    depth_metrics,
    identity_poses,
    pose_auc,
    pose_baselines,
    pose_metrics,
    relative_pose_errors,
    umeyama_sim3,
)


def _rotation(axis, angle_deg):
    axis = torch.tensor(axis, dtype=torch.float64)
    axis = axis / axis.norm()
    a = math.radians(angle_deg)
    x, y, z = axis.tolist()
    Kx = torch.tensor([[0, -z, y], [z, 0, -x], [-y, x, 0]], dtype=torch.float64)
    return torch.eye(3, dtype=torch.float64) + math.sin(a) * Kx + (1 - math.cos(a)) * Kx @ Kx


def _random_cameras(S, seed=0):
    g = torch.Generator().manual_seed(seed)
    cams = []
    for _ in range(S):
        R = _rotation(torch.randn(3, generator=g).tolist(), float(torch.rand(1, generator=g)) * 180)
        t = torch.randn(3, 1, generator=g, dtype=torch.float64)
        cams.append(torch.cat([R, t], 1))
    return torch.stack(cams)


def test_umeyama_recovers_a_known_sim3():
    g = torch.Generator().manual_seed(1)
    source = torch.randn(20, 3, generator=g, dtype=torch.float64)
    R, t, s = _rotation([1.0, 2.0, -0.5], 73.0), torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64), 2.7
    target = s * source @ R.T + t
    fit = umeyama_sim3(source, target)
    assert fit.scale.item() == pytest.approx(s, rel=1e-9)
    assert torch.allclose(fit.rotation, R, atol=1e-9) and torch.allclose(fit.translation, t, atol=1e-9)
    assert torch.allclose(fit.apply(source), target, atol=1e-9)
    rigid = umeyama_sim3(source, source @ R.T + t, with_scale=False)
    assert rigid.scale.item() == 1.0 and torch.allclose(rigid.rotation, R, atol=1e-9)


def test_umeyama_never_returns_a_reflection():
    g = torch.Generator().manual_seed(2)
    source = torch.randn(10, 3, generator=g, dtype=torch.float64)
    mirrored = source * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    assert torch.det(umeyama_sim3(source, mirrored).rotation).item() == pytest.approx(1.0)


@pytest.mark.parametrize("S", [1, 2, 5])
def test_align_predicted_cameras_recovers_the_ground_truth_frame(S):
    gt = _random_cameras(S)
    gt_depth = 1.0 + torch.rand(S, 4, 5, dtype=torch.float64)
    R, t, s = _rotation([0.3, -1.0, 0.2], 40.0), torch.tensor([1.0, 0.2, -0.7], dtype=torch.float64), 0.4
    # gt frame -> predicted frame
    inverse = Sim3(torch.tensor(1 / s, dtype=torch.float64), R.T, -(R.T @ t) / s)
    pred, pred_depth = transform_cameras(gt, inverse), gt_depth / s
    cams, depth, sim3 = align_predicted_cameras(pred, pred_depth, gt, gt_depth=gt_depth)
    assert torch.allclose(cams, gt, atol=1e-8) and torch.allclose(depth, gt_depth, atol=1e-8)
    assert sim3.scale.item() == pytest.approx(s)


def test_depth_metrics_after_one_median_scale():
    gt = 1.0 + torch.rand(3, 4, 5)
    gt[0, 0, 0] = 0.0  # invalid GT pixel is ignored
    out = depth_metrics(2.0 * gt, gt)
    assert out["abs_rel"] == pytest.approx(0.0, abs=1e-7) and out["delta1"] == 1.0
    assert out["scale"] == pytest.approx(0.5) and out["num_pixels"] == 59
    # hand case: valid pixels gt (1, 2, 4) / pred (1, 1, 1) -> scale = median(1, 2, 4) = 2, pred -> (2, 2, 2);
    # Abs Rel = (1/1 + 0/2 + 2/4) / 3 = 0.5; delta1: ratios (2, 1, 2) -> only 1 of 3 below 1.25
    hand = depth_metrics(torch.tensor([[[1.0, 1.0, 1.0, 5.0]]]), torch.tensor([[[1.0, 2.0, 4.0, 0.0]]]))
    assert hand["scale"] == pytest.approx(2.0)
    assert hand["abs_rel"] == pytest.approx(0.5) and hand["delta1"] == pytest.approx(1 / 3)


def test_depth_metrics_with_no_valid_pixel_are_nan():
    out = depth_metrics(torch.ones(1, 2, 2), torch.zeros(1, 2, 2))
    assert math.isnan(out["abs_rel"]) and out["num_pixels"] == 0


def test_pose_auc_is_one_for_perfect_poses():
    cams = _random_cameras(6)
    rot, trans = relative_pose_errors(cams, cams)
    assert rot.shape == (15,) and float(rot.max()) < 1e-4 and float(trans.max()) < 1e-4
    assert pose_auc(rot, trans) == 1.0
    # invariant to a similarity transform of the whole world
    moved = transform_cameras(cams, Sim3(torch.tensor(3.0, dtype=torch.float64), _rotation([1, 1, 0], 50),
                                         torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)))  # fmt: skip
    assert pose_metrics(moved, cams)["auc@30"] == 1.0


def test_pose_auc_for_a_known_rotation_error():
    gt = _random_cameras(4, seed=3)
    pred = gt.clone()
    # rotate the last camera by 10.5 degrees about its own centre: the 3 pairs (i, 3) get a rotation
    # error of 10.5 and no translation-direction error (the last camera is always the second of a pair)
    Rz = _rotation([0.2, 0.1, 1.0], 10.5)
    pred[3] = torch.cat([Rz @ gt[3, :, :3], Rz @ gt[3, :, 3:]], 1)
    rot, trans = relative_pose_errors(pred, gt)
    assert torch.allclose(rot, torch.tensor([0, 0, 10.5, 0, 10.5, 10.5], dtype=torch.float64), atol=1e-6)
    assert float(trans.max()) < 1e-4
    # accuracy 3/6 below k = 1..10 degrees, 6/6 for k = 11..30 -> (10 * 0.5 + 20) / 30
    assert pose_auc(rot, trans) == pytest.approx(25 / 30)
    errors = torch.maximum(rot, trans).numpy()
    reference = np.mean(np.cumsum(np.histogram(errors, bins=np.arange(31))[0] / len(errors)))
    assert pose_auc(rot, trans) == pytest.approx(reference)


def test_translation_direction_error_and_its_sign_ambiguity():
    identity = [[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    gt = torch.tensor([identity, [[1.0, 0, 0, -1], [0, 1, 0, 0], [0, 0, 1, 0]]])
    a = math.radians(20.0)
    pred = gt.clone()
    # direction rotated by 20 degrees, length 1
    pred[1, :, 3] = torch.tensor([-math.cos(a), -math.sin(a), 0.0])
    rot, trans = relative_pose_errors(pred, gt)
    assert rot.item() == pytest.approx(0.0, abs=1e-6) and trans.item() == pytest.approx(20.0)
    assert pose_auc(rot, trans) == pytest.approx(10 / 30)  # only k = 21..30 exceed 20 degrees
    flipped = gt.clone()
    flipped[1, :, 3] *= -2.0
    assert relative_pose_errors(flipped, gt)[1].item() == pytest.approx(0.0, abs=1e-6)


def test_pose_auc_edges_follow_numpy_histogram():
    # an error of exactly 30 counts at the last threshold (numpy's last bin is closed); 30.5 never does
    rot = torch.tensor([30.0, 30.5, 0.0, 1.0])
    trans = torch.zeros(4)
    reference = np.mean(np.cumsum(np.histogram(rot.numpy(), bins=np.arange(31))[0] / 4))
    assert pose_auc(rot, trans) == pytest.approx(reference)


def test_ground_truth_poses_score_one_in_any_world_frame():
    gt = _random_cameras(10, seed=4)
    moved = transform_cameras(gt, Sim3(torch.tensor(0.2, dtype=torch.float64), _rotation([0, 1, 1], 120),
                                       torch.tensor([-3.0, 0.5, 2.0], dtype=torch.float64)))  # fmt: skip
    assert pose_metrics(gt, gt)["auc@30"] == 1.0
    assert pose_metrics(moved, gt)["auc@30"] == 1.0  # the metric needs no alignment


def test_identity_guess_gets_the_90_degree_translation_error_on_every_pair():
    gt = _random_cameras(5, seed=5)
    guess = identity_poses(5)
    assert guess.shape == (5, 3, 4) and torch.equal(guess[3], torch.eye(3, 4, dtype=torch.float64))
    rot, trans = relative_pose_errors(guess, gt)
    assert torch.equal(trans, torch.full((10,), 90.0, dtype=torch.float64))
    assert pose_auc(rot, trans) == 0.0 and pose_baselines(gt)["identity"] == 0.0


def test_constant_translation_guess_on_a_hand_made_sequence():
    # GT: cameras that never turn, centres (0,0,0), (1,0,0), (1,1,0), so t_i = -c_i. The relative
    # translation of pair (i, j) is c_j - c_i: (1,0,0), (1,1,0), (0,1,0). The guess moves sideways
    # along x, so the translation errors are 0, 45 and 90 degrees and the rotation errors 0:
    # only pair (0, 1) is below every threshold -> AUC@30 = 1/3.
    centres = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0]], dtype=torch.float64)
    gt = torch.cat([torch.eye(3, dtype=torch.float64).expand(3, 3, 3), -centres[:, :, None]], dim=2)
    guess = constant_translation_poses(3)
    assert torch.equal(guess[2, :, 3], torch.tensor([-2.0, 0, 0], dtype=torch.float64))
    rot, trans = relative_pose_errors(guess, gt)
    assert torch.allclose(trans, torch.tensor([0.0, 45.0, 90.0], dtype=torch.float64), atol=1e-6)
    assert float(rot.abs().max()) < 1e-6
    assert pose_baselines(gt) == {"identity": 0.0, "constant_translation": pytest.approx(1 / 3)}
    # the same guess against a camera that also turns 40 degrees: the pairs with the turning
    # camera get a 40-degree rotation error, so only the pair (0, 1) still counts
    gt[2, :, :3] = _rotation([0, 1, 0], 40.0)
    gt[2, :, 3:] = -gt[2, :, :3] @ centres[2, :, None]
    assert pose_baselines(gt)["constant_translation"] == pytest.approx(1 / 3)
    gt[1, :, :3] = _rotation([0, 1, 0], 40.0)
    gt[1, :, 3:] = -gt[1, :, :3] @ centres[1, :, None]
    assert pose_baselines(gt)["constant_translation"] == 0.0


@pytest.mark.parametrize("trajectory", ["orbit", "sweep"])
def test_training_targets_decoded_like_predictions_score_one_on_synthetic_rooms(trajectory):
    # The chain a perfect camera head goes through: GT cameras of a rendered room's trajectory ->
    # the loss's targets (camera 0 = identity, unit mean point distance) -> pose encoding (quaternion
    # w >= 0, FoV in radians of the input size) -> decoded as the evaluation decodes `pose_enc`. Any
    # convention mismatch on the way (frame, scale, transpose, FoV units) would cost pose AUC here.
    import numpy as np

    from segvggt.backbone import extri_intri_to_pose_encoding, pose_encoding_to_extri_intri
    from segvggt.data.synthetic import SyntheticSpec, make_room
    from segvggt.losses.normalization import normalize_scene

    spec = SyntheticSpec(width=112, height=84, frames=10, trajectory=trajectory)
    room, _ = make_room(np.random.default_rng([0, 1, 3]), spec)
    gt = torch.from_numpy(room.cam_from_world).double()
    K = torch.from_numpy(room.intrinsics).float()
    depth = torch.full((1, 10, 6, 8), 2.5)  # any valid depth: it only sets the normalising scale
    scene = normalize_scene(gt[None].float(), K[None], depth)
    assert torch.allclose(scene.cam_from_world[0, 0], torch.eye(3, 4), atol=1e-5)
    pose_enc = extri_intri_to_pose_encoding(scene.cam_from_world, K[None], (84, 112))  # [1, S, 9]
    decoded, K_decoded = pose_encoding_to_extri_intri(pose_enc, (84, 112))
    assert torch.allclose(K_decoded[0, :, 0, 0], K[:, 0, 0], rtol=1e-4)  # FoV round trip: same focal
    assert pose_metrics(decoded[0].double(), gt)["auc@30"] == 1.0
    # the trivial guesses on the same room sit far below (identity exactly 0)
    base = pose_baselines(gt)
    assert base["identity"] == 0.0 and base["constant_translation"] < 0.5
