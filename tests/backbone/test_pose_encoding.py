"""Pose encoding round trip and depth unprojection."""

from __future__ import annotations

import math

import torch
from torch.testing import assert_close

from segvggt.backbone import extri_intri_to_pose_encoding, pose_encoding_to_extri_intri, unproject_depth_map_to_point_map
from segvggt.backbone.pose_encoding import mat_to_quat, quat_to_mat
from segvggt.geometry import project_to_pixels


def _random_rotations(n: int, generator) -> torch.Tensor:
    q = torch.randn(n, 4, generator=generator, dtype=torch.float64)
    return quat_to_mat(q)


def test_round_trip_extrinsics_intrinsics():
    g = torch.Generator().manual_seed(0)
    R = _random_rotations(6, g).reshape(2, 3, 3, 3)
    t = torch.randn(2, 3, 3, 1, generator=g, dtype=torch.float64)
    extrinsics = torch.cat([R, t], dim=-1)
    H, W = 70, 56
    K = torch.zeros(2, 3, 3, 3, dtype=torch.float64)
    K[..., 0, 0], K[..., 1, 1] = 50.0, 60.0
    K[..., 0, 2], K[..., 1, 2], K[..., 2, 2] = W / 2, H / 2, 1.0
    enc = extri_intri_to_pose_encoding(extrinsics, K, (H, W))
    assert enc.shape == (2, 3, 9) and enc.dtype == torch.float32
    assert (enc[..., 6] >= 0).all()  # standardised quaternion (w >= 0), unit length
    assert_close(enc[..., 3:7].norm(dim=-1), torch.ones(2, 3))
    assert_close(enc[..., 7], torch.full((2, 3), 2 * math.atan(35 / 60)))  # fov_h from fy
    assert_close(enc[..., 8], torch.full((2, 3), 2 * math.atan(28 / 50)))  # fov_w from fx
    back_E, back_K = pose_encoding_to_extri_intri(enc, (H, W))
    assert_close(back_E, extrinsics.float(), atol=1e-5, rtol=1e-5)
    assert_close(back_K, K.float(), atol=1e-4, rtol=1e-5)


def test_quaternion_known_values_and_non_unit_norm():
    # 90 degrees about z, scalar last; scaling the quaternion must not change the rotation
    q = torch.tensor([0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)])
    Rz = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert_close(quat_to_mat(q), Rz, atol=1e-6, rtol=0)
    assert_close(quat_to_mat(3.0 * q), Rz, atol=1e-6, rtol=0)
    assert_close(mat_to_quat(Rz), q, atol=1e-6, rtol=0)
    assert_close(mat_to_quat(torch.diag(torch.tensor([1.0, -1.0, -1.0]))), torch.tensor([1.0, 0, 0, 0]))  # 180 about x


def test_unprojection_inverts_projection():
    g = torch.Generator().manual_seed(1)
    S, H, W = 2, 5, 4
    R = _random_rotations(S, g).float()
    extrinsics = torch.cat([R, torch.randn(S, 3, 1, generator=g)], dim=-1)
    K = torch.tensor([[10.0, 0, 2.0], [0, 12.0, 2.5], [0, 0, 1]]).expand(S, 3, 3)
    depth = torch.rand(S, H, W, 1, generator=g) + 1.0
    world = unproject_depth_map_to_point_map(depth, extrinsics, K)
    assert world.shape == (S, H, W, 3) and world.dtype == torch.float64
    uv, z = project_to_pixels(world.reshape(S, H * W, 3).float(), extrinsics, K)
    v, u = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")  # no half-pixel offset
    assert_close(uv, torch.stack([u, v], -1).reshape(1, H * W, 2).expand(S, -1, -1).float(), atol=1e-4, rtol=0)
    assert_close(z, depth.reshape(S, H * W), atol=1e-5, rtol=0)
    # identity camera: pixel (u=3, v=1) at depth 2 -> ((3-2)*2/10, (1-2.5)*2/12, 2)
    eye = torch.eye(3, 4)[None]
    pts = unproject_depth_map_to_point_map(torch.full((1, H, W), 2.0), eye, K[:1])
    assert_close(pts[0, 1, 3], torch.tensor([0.2, -0.25, 2.0], dtype=torch.float64))
