"""load_vggt_checkpoint: file formats, clear errors, track_head dropping, prefixes and LoRA."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from segvggt.backbone import CheckpointError, build_vggt, load_vggt_checkpoint


@pytest.fixture()
def official_file(conv_fixture, tmp_path):
    state = dict(conv_fixture["state_dict"])
    state["track_head.tracker.updateformer.virual_tracks"] = torch.zeros(1, 4, 1, 8)
    state["track_head.feature_extractor.norm.weight"] = torch.ones(8)
    path = tmp_path / "model.pt"
    torch.save(state, path)
    return path


def _assert_loaded(model, fixture):
    for key, value in fixture["state_dict"].items():
        assert torch.equal(model.state_dict()[key], value), key


def test_loads_pt_and_drops_track_head(conv_fixture, official_file, caplog):
    model = build_vggt(conv_fixture["config"])
    with caplog.at_level("INFO"):
        report = load_vggt_checkpoint(model, official_file)
    assert len(report.dropped) == 2 and all(k.startswith("track_head.") for k in report.dropped)
    assert "track_head" in caplog.text
    _assert_loaded(model, conv_fixture)


def test_loads_safetensors(conv_fixture, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in conv_fixture["state_dict"].items()}, str(path))
    model = build_vggt(conv_fixture["config"])
    load_vggt_checkpoint(model, path)
    _assert_loaded(model, conv_fixture)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_truncated_file_gives_clear_error(official_file, conv_fixture, tmp_path, suffix):
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        full = tmp_path / "full.safetensors"
        save_file({k: v.contiguous() for k, v in conv_fixture["state_dict"].items()}, str(full))
    else:
        full = official_file
    data = full.read_bytes()
    broken = tmp_path / f"broken{suffix}"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="broken"):
        load_vggt_checkpoint(build_vggt(conv_fixture["config"]), broken)


def test_garbage_and_missing_files(conv_fixture, tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    model = build_vggt(conv_fixture["config"])
    with pytest.raises(CheckpointError, match="garbage.pt: cannot read"):
        load_vggt_checkpoint(model, garbage)
    with pytest.raises(CheckpointError, match="not found"):
        load_vggt_checkpoint(model, tmp_path / "nope.pt")
    foreign = tmp_path / "list.pt"
    torch.save([1, 2, 3], foreign)
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_vggt_checkpoint(model, foreign)


def test_missing_unexpected_and_wrong_shape_listed_in_one_error(conv_fixture):
    state = dict(conv_fixture["state_dict"])
    del state["camera_head.embed_pose.bias"]
    state["aggregator.frame_blocks.0.attn.qkv.weight"] = torch.zeros(5, 5)
    state["some.foreign.key"] = torch.zeros(1)
    model = build_vggt(conv_fixture["config"])
    before = model.state_dict()["aggregator.camera_token"].clone()
    with pytest.raises(CheckpointError) as err:
        load_vggt_checkpoint(model, state)
    message = str(err.value)
    assert "1 missing key(s): camera_head.embed_pose.bias" in message
    assert "1 unexpected key(s): some.foreign.key" in message
    assert "aggregator.frame_blocks.0.attn.qkv.weight: checkpoint (5, 5) vs model (96, 32)" in message
    assert torch.equal(model.state_dict()["aggregator.camera_token"], before)  # nothing half-loaded


class _SegLike(nn.Module):
    """Stand-in for SegVGGT: VGGT under `.vggt` plus new modules."""

    def __init__(self, config):
        super().__init__()
        self.vggt = build_vggt(config)
        self.segmentation = nn.Linear(4, 4)


def test_vggt_held_as_submodule_with_allowed_missing_prefix(conv_fixture):
    model = _SegLike(conv_fixture["config"])
    with pytest.raises(CheckpointError, match="segmentation.weight"):
        load_vggt_checkpoint(model, conv_fixture["state_dict"])
    report = load_vggt_checkpoint(model, conv_fixture["state_dict"], allow_missing_prefixes=("segmentation.",))
    assert set(report.allowed_missing) == {"segmentation.weight", "segmentation.bias"}
    _assert_loaded(model.vggt, conv_fixture)


def test_peft_lora_wrapped_attention_loads_and_keeps_outputs(conv_fixture):
    peft = pytest.importorskip("peft")
    model = _SegLike(conv_fixture["config"])
    config = peft.LoraConfig(r=2, lora_alpha=2, target_modules=["qkv"], init_lora_weights=True)
    peft.inject_adapter_in_model(config, model.vggt)
    keys = model.state_dict()
    assert "vggt.aggregator.frame_blocks.0.attn.qkv.base_layer.weight" in keys
    load_vggt_checkpoint(model, conv_fixture["state_dict"], allow_missing_prefixes=("segmentation.",))
    assert torch.equal(
        keys["vggt.aggregator.frame_blocks.0.attn.qkv.base_layer.weight"],
        conv_fixture["state_dict"]["aggregator.frame_blocks.0.attn.qkv.weight"],
    )
    with torch.no_grad():
        out = model.vggt.eval()(conv_fixture["images"])
    assert_close(out["depth"], conv_fixture["outputs"]["depth"], atol=1e-4, rtol=1e-4)  # LoRA B starts at 0


def test_meta_model_can_be_filled_with_assign(conv_fixture):
    with torch.device("meta"):
        model = build_vggt(conv_fixture["config"])
    load_vggt_checkpoint(model, conv_fixture["state_dict"], assign=True)
    assert not any(t.is_meta for t in list(model.parameters()) + list(model.buffers()))
    with torch.no_grad():
        out = model.eval()(conv_fixture["images"])
    assert_close(out["pose_enc"], conv_fixture["outputs"]["pose_enc"], atol=1e-4, rtol=1e-4)
