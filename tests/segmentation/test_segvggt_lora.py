"""LoRA: targets, no-op on attach, merge reproduces adapted outputs, trainability, optimizer groups."""

import pytest
import torch

from segvggt.segmentation.lora import attach_lora, has_lora, merge_lora
from segvggt.segmentation.segvggt import build_segvggt
from segvggt.segmentation.trainable import is_new_parameter

pytest.importorskip("peft")

GEOMETRY = ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf")
SEG = ("pred_logits", "pred_masks", "prompt_masks", "prompt_scores")
PROMPTS = [[[(1, 20.0, 30.0, True)]]]


def run(model, images):
    with torch.no_grad():
        return model(images, PROMPTS)


def lora_module_names(model):
    return sorted({n.rsplit(".lora_A", 1)[0] for n, _ in model.named_parameters() if ".lora_A." in n})


def test_lora_targets_only_frame_and_global_attention_projections(dinov2_fixture):
    dino_cfg = dinov2_fixture["config"]
    model = build_segvggt(dino_cfg, num_queries=3, num_classes=2, query_dim=8, query_heads=2, mask_dim=8,
                          query_layers="late", lora_rank=2)
    names = lora_module_names(model)
    expected = sorted(f"vggt.aggregator.{kind}_blocks.{i}.attn.{proj}"
                      for kind in ("frame", "global") for i in range(24) for proj in ("qkv", "proj"))
    assert names == expected  # not DINOv2's blocks, not the camera trunk, not the query blocks


def test_fresh_adapters_are_a_no_op_and_merge_reproduces_adapted_outputs(make_model, conv_fixture):
    images = conv_fixture["images"]
    model = make_model()
    model.load_vggt_checkpoint(conv_fixture["state_dict"])  # LayerScale ~0.5: attention visibly matters
    original_keys = list(model.state_dict())
    before = run(model, images)
    attach_lora(model, rank=4, alpha=8)
    assert has_lora(model)
    after = run(model, images)
    for key in GEOMETRY + SEG:
        assert torch.equal(before[key], after[key]), key
    torch.manual_seed(1)
    for name, param in model.named_parameters():
        if ".lora_B." in name:
            param.data.normal_(0, 0.3)
    adapted = run(model, images)
    for key in ("depth", "pose_enc", "pred_masks"):
        assert (adapted[key] - before[key]).abs().max() > 1e-3, key  # the perturbation matters
    merge_lora(model)
    assert not has_lora(model) and list(model.state_dict()) == original_keys
    merged = run(model, images)
    for key in GEOMETRY + SEG:
        torch.testing.assert_close(merged[key], adapted[key], atol=1e-5, rtol=1e-5)


def test_trainable_parameters_follow_the_design(make_model):
    model = make_model(lora_rank=4)
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    assert not grads["vggt.aggregator.patch_embed.proj.weight"]
    assert not grads["vggt.aggregator.frame_blocks.0.attn.qkv.base_layer.weight"]
    assert grads["vggt.aggregator.frame_blocks.0.attn.qkv.lora_A.default.weight"]
    assert grads["vggt.aggregator.global_blocks.5.attn.proj.lora_B.default.weight"]
    assert grads["vggt.aggregator.frame_blocks.0.mlp.fc1.weight"]  # other pretrained: low lr
    assert grads["vggt.camera_head.trunk.0.attn.qkv.weight"] and grads["vggt.depth_head.norm.weight"]
    assert all(grads[n] for n in grads if not n.startswith("vggt."))  # every new module
    frozen = make_model(lora_rank=4, freeze_backbone="all")
    trainable = [n for n, p in frozen.named_parameters() if p.requires_grad]
    assert trainable and all(is_new_parameter(n) for n in trainable)
    assert any(".lora_" in n for n in trainable)
    agg = make_model(lora_rank=0, freeze_backbone="aggregator", freeze_patch_embed=False)
    grads = {n: p.requires_grad for n, p in agg.named_parameters()}
    assert not any(v for n, v in grads.items() if n.startswith("vggt.aggregator."))
    assert grads["vggt.camera_head.trunk.0.attn.qkv.weight"]
    unfrozen = make_model(lora_rank=0, freeze_patch_embed=False)
    assert unfrozen.vggt.aggregator.patch_embed.proj.weight.requires_grad


def test_param_groups_cover_every_trainable_parameter_exactly_once(make_model):
    model = make_model(lora_rank=4)
    groups = model.param_groups(lr_new=1e-4, lr_pretrained=1e-5, weight_decay=0.05)
    ids = [id(p) for g in groups for p in g["params"]]
    trainable = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
    assert len(ids) == len(set(ids)) and set(ids) == set(trainable)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"new", "new_no_decay", "pretrained", "pretrained_no_decay"}
    for g in groups:
        assert g["lr"] == (1e-4 if g["name"].startswith("new") else 1e-5)
        assert g["weight_decay"] == (0.0 if g["name"].endswith("no_decay") else 0.05)
        for p in g["params"]:
            assert is_new_parameter(trainable[id(p)]) == g["name"].startswith("new")
    lora_ids = {id(p) for n, p in model.named_parameters() if ".lora_" in n}
    assert lora_ids <= {id(p) for p in by_name["new"]["params"]}
    torch.optim.AdamW(groups)  # a valid optimizer spec


@pytest.mark.parametrize("order", ["load_then_attach", "attach_then_load"])
def test_fixture_weights_load_before_or_after_lora(make_model, conv_fixture, order):
    model = make_model()
    if order == "load_then_attach":
        model.load_vggt_checkpoint(conv_fixture["state_dict"])
        attach_lora(model, rank=4)
    else:
        attach_lora(model, rank=4)
        model.load_vggt_checkpoint(conv_fixture["state_dict"])
    out = run(model, conv_fixture["images"])
    for key in GEOMETRY:
        torch.testing.assert_close(out[key], conv_fixture["outputs"][key], atol=1e-4, rtol=1e-4)
