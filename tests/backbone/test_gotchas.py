"""One known-answer test per VGGT gotcha (FACTS section 14)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from helpers import model_from
from torch.testing import assert_close

from segvggt.backbone import pose_encoding_to_extri_intri
from segvggt.backbone.aggregator import expand_special_tokens
from segvggt.backbone.camera_head import CameraHead
from segvggt.backbone.config import CameraHeadConfig, DinoConfig
from segvggt.backbone.dpt_fusion import ResidualConvUnit, dpt_pos_embed
from segvggt.backbone.layers import Attention, Block
from segvggt.backbone.patch_embed import DinoVisionTransformer
from segvggt.backbone.rope import RotaryPositionEmbedding2D, apply_rope, patch_positions


def test_rcu_skip_adds_relu_of_input():
    rcu = ResidualConvUnit(2)
    for p in rcu.parameters():
        torch.nn.init.zeros_(p)
    x = torch.tensor([-1.0, 2.0, -3.0, 4.0]).reshape(1, 2, 1, 2)
    assert_close(rcu(x), torch.tensor([0.0, 2.0, 0.0, 4.0]).reshape(1, 2, 1, 2))


def test_camera_refinement_feeds_detached_raw_pre_activation():
    torch.manual_seed(0)
    head = CameraHead(CameraHeadConfig(dim_in=16, trunk_depth=1, num_heads=2))
    with torch.no_grad():
        head.pose_branch.fc2.bias[7:] = -50.0  # raw FoV far below 0 -> ReLU output 0
    seen = []
    head.embed_pose.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    tokens = torch.randn(2, 3, 7, 16, requires_grad=True)
    outs = head([tokens], num_iterations=3)
    assert len(outs) == 3 and len(seen) == 3
    assert_close(seen[0], head.empty_pose_tokens.expand(2, 3, -1))
    assert (outs[0][..., 7:] == 0).all()
    assert (seen[1][..., 7:] < -10).all()  # the raw value, not relu(raw)
    assert_close(seen[1][..., :7], outs[0][..., :7])
    assert not seen[1].requires_grad and not seen[2].requires_grad
    assert outs[-1].requires_grad


def test_special_token_slot_zero_only_for_frame_zero():
    token = torch.stack([torch.zeros(1, 4), torch.ones(1, 4)])[None]  # [1, 2, 1, 4]: slot value = slot index
    out = expand_special_tokens(token, B=2, S=3)  # [B*S, 1, 4]
    assert out[:, 0, 0].tolist() == [0.0, 1.0, 1.0, 0.0, 1.0, 1.0]


def test_frames_after_the_first_are_exchangeable_but_the_first_is_not(conv_fixture):
    model = model_from(conv_fixture)
    images = conv_fixture["images"]
    with torch.no_grad():
        base = model(images)
        swapped = model(images[:, [0, 2, 1]])
        swapped_first = model(images[:, [1, 0, 2]])
    assert_close(swapped["depth"], base["depth"][:, [0, 2, 1]], atol=1e-5, rtol=1e-5)
    assert_close(swapped["pose_enc"], base["pose_enc"][:, [0, 2, 1]], atol=1e-5, rtol=1e-5)
    assert (swapped_first["pose_enc"] - base["pose_enc"][:, [1, 0, 2]]).abs().max() > 1e-3


def test_rope_positions_special_tokens_at_origin_patches_shifted():
    pos = patch_positions(2, 2, 3)
    assert pos.tolist() == [[0, 0], [0, 0], [1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [2, 3]]


def test_rope_y_half_then_x_half_rotate_half_pairing():
    rope = RotaryPositionEmbedding2D(100.0)
    cos, sin = rope.tables(torch.tensor([[1, 2]]), head_dim=8)  # y = 1, x = 2; freqs 1 and 100^-0.5 = 0.1
    eye = torch.eye(8).reshape(8, 1, 1, 8)  # 8 one-hot "heads" [B=8, heads=1, N=1, D=8]
    out = apply_rope(eye, cos, sin)[:, 0, 0]
    expected = torch.zeros(8, 8)
    for ch, pair, angle in ((0, 2, 1.0), (1, 3, 0.1), (4, 6, 2.0), (5, 7, 0.2)):
        expected[ch, ch], expected[ch, pair] = math.cos(angle), math.sin(angle)
        expected[pair, pair], expected[pair, ch] = math.cos(angle), -math.sin(angle)
    assert_close(out, expected)


def test_rope_scores_depend_only_on_relative_position():
    rope = RotaryPositionEmbedding2D(100.0)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(pq, pk):
        cq, sq = rope.tables(torch.tensor([pq]), 16)
        ck, sk = rope.tables(torch.tensor([pk]), 16)
        return (apply_rope(q, cq, sq) * apply_rope(k, ck, sk)).sum()

    assert_close(score([3, 5], [1, 2]), score([4, 9], [2, 6]), atol=1e-5, rtol=1e-5)
    assert (score([3, 5], [1, 2]) - score([3, 5], [2, 1])).abs() > 1e-4


def test_qk_norm_before_rope_and_eps_values():
    torch.manual_seed(0)
    attn = Attention(16, 2, qk_norm=True)
    assert attn.q_norm.eps == 1e-5 and attn.k_norm.eps == 1e-5
    assert Block(16, 2).norm1.eps == 1e-5
    dino = DinoVisionTransformer(DinoConfig(embed_dim=16, depth=1, num_heads=2, img_size=28))
    assert dino.blocks[0].norm1.eps == 1e-6 and dino.norm.eps == 1e-6
    with torch.no_grad():
        for norm in (attn.q_norm, attn.k_norm):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.normal_()
    x = torch.randn(1, 6, 16)
    cos, sin = RotaryPositionEmbedding2D(100.0).tables(patch_positions(0, 2, 3), 8)

    def manual(norm_first: bool):
        q, k, v = attn.qkv(x).reshape(1, 6, 3, 2, 8).permute(2, 0, 3, 1, 4)
        if norm_first:
            q, k = apply_rope(attn.q_norm(q), cos, sin), apply_rope(attn.k_norm(k), cos, sin)
        else:
            q, k = attn.q_norm(apply_rope(q, cos, sin)), attn.k_norm(apply_rope(k, cos, sin))
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1)
        return attn.proj((w @ v).transpose(1, 2).reshape(1, 6, 16))

    with torch.no_grad():
        out = attn(x, rope=(cos, sin))
        assert_close(out, manual(True), atol=1e-5, rtol=1e-5)
        assert (out - manual(False)).abs().max() > 1e-3


def test_layer_output_is_frame_then_global(conv_fixture):
    model = model_from(conv_fixture)
    captured = {}
    model.aggregator.frame_blocks[2].register_forward_hook(lambda m, a, o: captured.__setitem__("frame", o))
    model.aggregator.global_blocks[2].register_forward_hook(lambda m, a, o: captured.__setitem__("global", o))
    images = conv_fixture["images"]
    with torch.no_grad():
        tokens, _ = model.aggregator(images)
    B, S, P, C2 = tokens[2].shape
    assert_close(tokens[2][..., : C2 // 2], captured["frame"].reshape(B, S, P, C2 // 2), atol=0, rtol=0)
    assert_close(tokens[2][..., C2 // 2 :], captured["global"].reshape(B, S, P, C2 // 2), atol=0, rtol=0)
    assert_close(tokens[2], conv_fixture["outputs"]["aggregated_tokens"][2], atol=1e-4, rtol=1e-4)


def test_dpt_pos_embed_known_values_x_channels_before_y():
    emb = dpt_pos_embed(8, height=1, width=2, aspect_ratio=1.0, dtype=torch.float32)  # [8, 1, 2]
    x = -(1 / math.sqrt(2)) * 0.5  # left column; the single row sits at y = 0
    expected_left = [math.sin(x), math.sin(0.1 * x), math.cos(x), math.cos(0.1 * x), 0.0, 0.0, 1.0, 1.0]
    assert_close(emb[:, 0, 0], torch.tensor(expected_left))
    assert_close(emb[:4, 0, 1], torch.tensor([-expected_left[0], -expected_left[1], *expected_left[2:4]]))


def test_dpt_pos_embed_is_added_after_project_and_after_upsample(conv_fixture):
    model = model_from(conv_fixture)
    calls = []
    import segvggt.backbone.dpt_head as dpt_module

    original = dpt_module.add_pos_embed

    def spy(x, W, H, ratio=0.1):
        calls.append(tuple(x.shape[1:]))
        return original(x, W, H, ratio)

    dpt_module.add_pos_embed = spy
    try:
        with torch.no_grad():
            model.depth_head(*_head_inputs(model, conv_fixture["images"]))
    finally:
        dpt_module.add_pos_embed = original
    # four taps at the patch grid (5 x 4) with their project widths, then 8 channels at full resolution
    assert calls == [(8, 5, 4), (16, 5, 4), (32, 5, 4), (32, 5, 4), (8, 70, 56)]


def _head_inputs(model, images):
    tokens, idx = model.aggregator(images)
    return tokens, images, idx


def test_dino_pos_embed_interpolation_skipped_only_for_exact_square():
    torch.manual_seed(0)
    dino = DinoVisionTransformer(DinoConfig(embed_dim=8, depth=1, num_heads=2, img_size=28))  # 2 x 2 grid
    with torch.no_grad():
        dino.pos_embed.normal_()
    assert dino.interpolate_pos_encoding(28, 28, torch.float32) is dino.pos_embed
    wide = dino.interpolate_pos_encoding(14, 56, torch.float32)  # same patch count (4), not square
    assert wide.shape == (1, 5, 8)
    assert_close(wide[:, 0], dino.pos_embed[:, 0])
    grid = dino.pos_embed[:, 1:].reshape(1, 2, 2, 8).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(1, 4), mode="bicubic", antialias=True).permute(0, 2, 3, 1).reshape(1, 4, 8)
    assert_close(wide[:, 1:], expected)
    assert (wide[:, 1:] - dino.pos_embed[:, 1:]).abs().max() > 1e-3
    big = DinoVisionTransformer(DinoConfig(embed_dim=8, depth=1, num_heads=2, img_size=84))  # 6 x 6 grid
    with torch.no_grad():
        big.pos_embed.normal_()
    down = big.interpolate_pos_encoding(42, 28, torch.float32)[:, 1:]
    grid6 = big.pos_embed[:, 1:].reshape(1, 6, 6, 8).permute(0, 3, 1, 2)
    plain = F.interpolate(grid6, size=(3, 2), mode="bicubic", antialias=False).permute(0, 2, 3, 1).reshape(1, 6, 8)
    assert (down - plain).abs().max() > 1e-3  # antialiasing is on when downsampling


def test_fov_height_first_and_principal_point_at_image_centre():
    pose = torch.tensor([[[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.5]]])
    extrinsic, intrinsic = pose_encoding_to_extri_intri(pose, (70, 56))
    assert_close(extrinsic[0, 0], torch.tensor([[1.0, 0, 0, 1], [0, 1.0, 0, 2], [0, 0, 1.0, 3]]))
    fy, fx = 35 / math.tan(0.5), 28 / math.tan(0.25)
    assert_close(intrinsic[0, 0], torch.tensor([[fx, 0, 28.0], [0, fy, 35.0], [0, 0, 1.0]]))
