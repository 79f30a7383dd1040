"""Parity with the official VGGT code on random weights (fixtures made by running it)."""

from __future__ import annotations

import torch
from helpers import model_from
from torch.testing import assert_close

from segvggt.backbone import pose_encoding_to_extri_intri, unproject_depth_map_to_point_map

TOL = dict(atol=1e-4, rtol=1e-4)


def test_every_output_matches_official(parity):
    model = model_from(parity)
    images, ref = parity["images"], parity["outputs"]
    with torch.no_grad():
        tokens, patch_start_idx = model.aggregator(images)
        out = model.run_heads(tokens, images, patch_start_idx)
        patch_tokens = model.aggregator.embed(images)
    assert patch_start_idx == ref["patch_start_idx"] == 5
    assert len(tokens) == ref["num_aggregated_layers"]
    assert_close(patch_tokens, ref["patch_tokens"], **TOL)
    for layer, expected in ref["aggregated_tokens"].items():
        assert_close(tokens[layer], expected, **TOL, msg=lambda m: f"layer {layer}: {m}")
    for key in ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf"):
        assert out[key].shape == ref[key].shape, key
        assert_close(out[key], ref[key], **TOL, msg=lambda m: f"{key}: {m}")
    assert_close(torch.stack(out["pose_enc_list"]), ref["pose_enc_list"], **TOL)
    H, W = images.shape[-2:]
    extrinsic, intrinsic = pose_encoding_to_extri_intri(out["pose_enc"], (H, W))
    assert_close(extrinsic, parity["extrinsic"], **TOL)
    assert_close(intrinsic, parity["intrinsic"], **TOL)
    points = unproject_depth_map_to_point_map(out["depth"], extrinsic, intrinsic)
    assert points.dtype == torch.float64
    assert_close(points, ref["world_points_from_depth"], **TOL)


def test_forward_matches_aggregator_plus_run_heads_and_accepts_4d(conv_fixture):
    model = model_from(conv_fixture)
    images = conv_fixture["images"]
    with torch.no_grad():
        full = model(images[0])  # [S, 3, H, W] gets a batch dim
    assert_close(full["depth"], conv_fixture["outputs"]["depth"], **TOL)
    assert full["world_points"].shape == (1, 3, 70, 56, 3)


def test_batch_of_two_equals_each_scene_alone(parity):
    model = model_from(parity)
    other = torch.rand_like(parity["images"])
    batch = torch.cat([parity["images"], other])
    with torch.no_grad():
        both = model(batch)
        second = model(other)
    for key in ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf"):
        assert_close(both[key][:1], parity["outputs"][key], **TOL)
        assert_close(both[key][1:], second[key], **TOL)


def test_other_aspect_ratios_and_frame_chunking(conv_fixture):
    model = model_from(conv_fixture, frames_chunk_size=None)
    chunked = model_from(conv_fixture, frames_chunk_size=2)
    images = torch.rand(1, 5, 3, 42, 84)
    with torch.no_grad():
        out, out_chunked = model(images), chunked(images)
    assert out["depth"].shape == (1, 5, 42, 84, 1)
    assert out["world_points_conf"].shape == (1, 5, 42, 84)
    assert out["pose_enc"].shape == (1, 5, 9) and len(out["pose_enc_list"]) == 4
    for key in ("depth", "depth_conf", "world_points", "world_points_conf"):
        assert_close(out[key], out_chunked[key], atol=1e-6, rtol=1e-6)


def test_heads_can_be_disabled(conv_fixture):
    model = model_from(conv_fixture)
    sd = {k: v for k, v in conv_fixture["state_dict"].items() if not k.startswith(("point_head.", "camera_head."))}
    from segvggt.backbone import build_vggt

    slim = build_vggt(conv_fixture["config"], enable_point=False, enable_camera=False)
    slim.load_state_dict(sd, strict=True)
    with torch.no_grad():
        out = slim.eval()(conv_fixture["images"])
    assert set(out) == {"depth", "depth_conf"}
    assert model.point_head is not None and slim.point_head is None
