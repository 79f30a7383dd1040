"""SegVGGT output contract, encode/decode equivalence, prompt independence, query-layer options."""

import pytest
import torch

from segvggt.segmentation.config import ModelConfig
from segvggt.segmentation.segvggt import SegVGGT

PROMPTS = [[[(0, 10.0, 20.0, True)], [(1, 5.0, 5.0, False), (2, 50.0, 60.0, True)]]]


def test_every_output_has_the_documented_shape(make_model, conv_fixture):
    model = make_model()
    images = conv_fixture["images"].repeat(2, 1, 1, 1, 1)  # B=2, S=3, 70x56
    prompts = [PROMPTS[0], [[(2, 1.0, 1.0, True)]]]
    with torch.no_grad():
        out = model(images, prompts, return_frame_mass=True)
    B, S, H, W, Q, R, L = 2, 3, 70, 56, 5, 2, 6
    expected = {
        "pose_enc": (B, S, 9), "depth": (B, S, H, W, 1), "depth_conf": (B, S, H, W),
        "world_points": (B, S, H, W, 3), "world_points_conf": (B, S, H, W),
        "pred_logits": (B, Q, 3 + 1), "pred_masks": (B, Q, S, H // 2, W // 2),
        "instance_features": (B, S, 8, H // 2, W // 2), "frame_attention_mass": (L, B, Q, S),
        "prompt_masks": (B, R, S, H // 2, W // 2), "prompt_scores": (B, R), "prompt_valid": (B, R),
    }
    for key, shape in expected.items():
        assert tuple(out[key].shape) == shape, key
    assert len(out["pose_enc_list"]) == 4 and all(p.shape == (B, S, 9) for p in out["pose_enc_list"])
    assert out["prompt_valid"].tolist() == [[True, True], [True, False]]
    assert torch.all(out["prompt_masks"][1, 1] == 0) and out["prompt_scores"][1, 1] == 0
    torch.testing.assert_close(out["frame_attention_mass"].sum(-1), torch.ones(L, B, Q))
    assert torch.all(out["frame_attention_mass"] >= 0)


def test_without_prompts_r_is_zero_and_frame_mass_follows_training_mode(make_model, conv_fixture):
    model = make_model()
    images = conv_fixture["images"]
    with torch.no_grad():
        out = model(images)
    assert "frame_attention_mass" not in out
    assert out["prompt_masks"].shape == (1, 0, 3, 35, 28) and out["prompt_valid"].shape == (1, 0)
    with torch.no_grad():
        empty = model.decode(model.encode(images), [[]])  # a scene with an empty prompt list: R = 0 too
    assert empty["prompt_scores"].shape == (1, 0) and torch.equal(empty["pred_masks"], out["pred_masks"])
    model.train()
    with torch.no_grad():
        assert model(images)["frame_attention_mass"].shape == (6, 1, 5, 3)


def test_mask_logits_are_the_dot_product_of_query_embedding_and_features(make_model, conv_fixture):
    model = make_model()
    with torch.no_grad():
        enc = model.encode(conv_fixture["images"])
        out = model.decode(enc)
        # Recompute the final queries' embedding through the public pieces, then one pixel by hand:
        # the blocks read the global-block patch tokens of their layers from the plain aggregator.
        tokens_list, start = model.vggt.aggregator(conv_fixture["images"])
        queries = model.query_embed.weight[None]
        for block, layer in zip(model.query_blocks, model.query_layers):
            patches = tokens_list[layer][:, :, start:, 32:]
            queries, _ = block(queries, block.token_kv(patches), patches.shape[1])
        embed = model.query_heads.mask_embed(model.query_heads.norm(queries))
        embedded = model.decode(enc, mask_logits=False)
    pixel = (embed[0, 2] * enc.instance_features[0, 1, :, 7, 9]).sum()
    torch.testing.assert_close(out["pred_masks"][0, 2, 1, 7, 9], pixel)
    # mask_logits=False returns that embedding instead of the [B, Q, S, h, w] logits.
    assert "pred_masks" not in embedded and "prompt_masks" not in embedded
    torch.testing.assert_close(embedded["pred_mask_embed"], embed)
    assert torch.equal(embedded["pred_logits"], out["pred_logits"])


def test_forward_equals_decode_of_encode_exactly(make_model, conv_fixture):
    model = make_model()
    images = conv_fixture["images"]
    with torch.no_grad():
        a = model(images, PROMPTS, return_frame_mass=True)
        b = model.decode(model.encode(images), PROMPTS, return_frame_mass=True)
    assert a.keys() == b.keys()
    for key in a:
        if key == "pose_enc_list":
            assert all(torch.equal(x, y) for x, y in zip(a[key], b[key]))
        else:
            assert torch.equal(a[key], b[key]), key


def test_decode_runs_no_backbone_code(make_model, conv_fixture):
    model = make_model()
    with torch.no_grad():
        enc = model.encode(conv_fixture["images"])

    def forbid(module, args):
        raise AssertionError(f"backbone module {type(module).__name__} ran during decode")

    handles = [m.register_forward_pre_hook(forbid) for m in (*model.vggt.modules(), *model.semantic_head.modules())]
    model.vggt.run_heads = lambda *a, **k: (_ for _ in ()).throw(AssertionError("run_heads called"))
    with torch.no_grad():
        out = model.decode(enc, PROMPTS, return_frame_mass=True)
        model.decode(enc, [[[(1, 3.0, 4.0, True)]]])
    assert out["prompt_masks"].shape[1] == 2
    for h in handles:
        h.remove()
    with pytest.raises(AssertionError, match="ran during decode"):
        handles = [model.vggt.aggregator.register_forward_pre_hook(forbid)]
        model.encode(conv_fixture["images"])


def test_a_prompt_answer_does_not_depend_on_other_prompts_and_queries_not_on_prompts(make_model, conv_fixture):
    model = make_model()
    target = [(1, 30.0, 40.0, True), (0, 12.0, 7.0, False)]
    others = [[(2, 50.0, 60.0, True)], [(0, 3.0, 3.0, True), (1, 40.0, 20.0, True), (2, 1.0, 69.0, False)]]
    with torch.no_grad():
        enc = model.encode(conv_fixture["images"])
        plain = model.decode(enc, None, return_frame_mass=True)
        alone = model.decode(enc, [[target]], return_frame_mass=True)
        crowded = model.decode(enc, [[others[0], target, others[1]]], return_frame_mass=True)
    torch.testing.assert_close(crowded["prompt_masks"][0, 1], alone["prompt_masks"][0, 0], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(crowded["prompt_scores"][0, 1], alone["prompt_scores"][0, 0], atol=1e-6, rtol=1e-6)
    for key in ("pred_logits", "pred_masks", "frame_attention_mass"):
        torch.testing.assert_close(crowded[key], plain[key], atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(alone[key], plain[key], atol=1e-6, rtol=1e-6)
    # Sanity: the prompts do change their own answer (otherwise the test could not fail).
    assert (crowded["prompt_masks"][0, 0] - crowded["prompt_masks"][0, 1]).abs().max() > 1e-3


def test_bad_click_through_the_model_is_one_clear_error(make_model, conv_fixture):
    model = make_model()
    with torch.no_grad(), pytest.raises(ValueError, match=r"scene 0, prompt 0, click 0 .*frame 3 is not a view index"):
        model(conv_fixture["images"], [[[(3, 1.0, 1.0, True)]]])


@pytest.mark.parametrize(
    "option, layers",
    [("all", [0, 1, 2, 3, 4, 5]), ("early", [0, 1, 2]), ("late", [3, 4, 5]), ("interleaved", [0, 2, 4]), ((5, 1), [1, 5])],
)
def test_query_layer_options_build_one_block_per_selected_layer(make_model, conv_fixture, option, layers):
    model = make_model(query_layers=option)
    assert model.query_layers == layers and len(model.query_blocks) == len(layers)
    with torch.no_grad():
        enc = model.encode(conv_fixture["images"])
        out = model.decode(enc, return_frame_mass=True)
    assert len(enc.token_kv) == len(layers) and out["frame_attention_mass"].shape[0] == len(layers)
    # The cached keys/values are those of the global-block patch tokens of the selected layers.
    with torch.no_grad():
        tokens_list, start = model.vggt.aggregator(conv_fixture["images"])
        expected = model.query_blocks[-1].token_kv(tokens_list[layers[-1]][:, :, start:, 32:])
    assert torch.equal(enc.token_kv[-1], expected)


def test_bad_configs_raise(conv_fixture):
    with pytest.raises(ValueError, match="query_layers must be one of"):
        ModelConfig(query_layers="middle")
    with pytest.raises(ValueError, match=r"query_layers \[6\] out of range .* 6 layers"):
        SegVGGT(ModelConfig(backbone=conv_fixture["config"], query_layers=[6], lora_rank=0))
    with pytest.raises(ValueError, match="freeze_backbone"):
        ModelConfig(freeze_backbone="some")


def test_loading_the_vggt_fixture_reproduces_its_geometry(make_model, conv_fixture):
    model = make_model()
    model.load_vggt_checkpoint(conv_fixture["state_dict"])
    with torch.no_grad():
        out = model(conv_fixture["images"])
    for key in ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf"):
        torch.testing.assert_close(out[key], conv_fixture["outputs"][key], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(torch.stack(out["pose_enc_list"]), conv_fixture["outputs"]["pose_enc_list"], atol=1e-4, rtol=1e-4)


def test_prompts_only_decode_gives_the_same_prompt_answers(make_model, conv_fixture):
    model = make_model()
    with torch.no_grad():
        encoded = model.encode(conv_fixture["images"])
        full = model.decode(encoded, PROMPTS)
        fast = model.decode(encoded, PROMPTS, prompts_only=True)
    assert "pred_masks" not in fast and "pred_logits" not in fast
    for key in ("prompt_masks", "prompt_scores", "prompt_valid"):
        torch.testing.assert_close(fast[key], full[key], atol=1e-6, rtol=1e-6)
