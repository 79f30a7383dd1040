"""The three checkpoint kinds load into the model they describe; every wrong kind gets one clear error."""

from __future__ import annotations

import pytest
import torch

from segvggt.backbone import CheckpointError
from segvggt.inference.checkpoints import export_weights, load_model
from segvggt.inference.predictor import Predictor

from inference_fixtures import IMAGE_SIZE, lightning_checkpoint, make_tiny


def outputs(model, images):
    with torch.no_grad():
        return model(images[None])


def test_lightning_checkpoint_rebuilds_the_model(tiny_model, ckpt_path):
    loaded = load_model(ckpt_path)
    assert (loaded.kind, loaded.benchmark, loaded.image_size) == ("lightning", "synthetic", IMAGE_SIZE)
    images = torch.rand(2, 3, 42, 56)
    ref, got = outputs(tiny_model, images), outputs(loaded.model, images)
    for key in ("pose_enc", "depth", "pred_logits", "pred_masks"):
        torch.testing.assert_close(got[key], ref[key])


def test_segvggt_module_checkpoint_layout_loads(tiny_config, tmp_path):
    """The real SegVGGTModule: what Lightning writes for it (hparams + state_dict) loads with weights_only and
    rebuilds the same SegVGGT (a Trainer-written file holds only plain types besides, checked by hand)."""
    from segvggt.training.module import SegVGGTModule

    _, config = tiny_config()
    module = SegVGGTModule(config).eval()
    path = tmp_path / "module.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams), "global_step": 0}, path)
    loaded = load_model(path)
    assert (loaded.benchmark, loaded.image_size) == (config["data"]["benchmark"], config["data"]["image_size"])
    images = torch.rand(2, 3, 42, 56)
    ref, got = outputs(module.model, images), outputs(loaded.model, images)
    for key in ("pose_enc", "depth", "pred_logits", "pred_masks"):
        torch.testing.assert_close(got[key], ref[key], rtol=1e-4, atol=1e-5)


def test_lora_checkpoint_is_merged_for_inference(backbone_config, tmp_path):
    model = make_tiny(backbone_config, lora_rank=2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora_B." in name:
                p.normal_(0, 0.5)  # a trained adapter changes the outputs
    path = lightning_checkpoint(model, backbone_config, tmp_path / "lora.ckpt", lora_rank=2)
    loaded = load_model(path)
    assert not any(".lora_" in k for k in loaded.model.state_dict())
    images = torch.rand(2, 3, 42, 56)
    ref, got = outputs(model, images), outputs(loaded.model, images)
    torch.testing.assert_close(got["pred_masks"], ref["pred_masks"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got["depth"], ref["depth"], rtol=1e-4, atol=1e-4)


def test_export_round_trip(tiny_model, tmp_path):
    path = export_weights(tiny_model, tmp_path / "tiny.safetensors", benchmark="synthetic", image_size=IMAGE_SIZE)
    assert not (tmp_path / "tiny.safetensors.partial").exists()
    loaded = load_model(path)
    assert (loaded.kind, loaded.benchmark, loaded.image_size) == ("export", "synthetic", IMAGE_SIZE)
    images = torch.rand(2, 3, 42, 56)
    torch.testing.assert_close(outputs(loaded.model, images)["pred_masks"], outputs(tiny_model, images)["pred_masks"])
    with pytest.raises(ValueError, match="benchmark= and image_size="):
        export_weights(tiny_model, tmp_path / "x.safetensors")


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_official_vggt_file_is_geometry_only(tiny_model, backbone_config, tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    state = {k: v.clone() for k, v in tiny_model.vggt.state_dict().items()}
    if suffix == ".pt":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    predictor = Predictor.from_checkpoint(path, "cpu", vggt_config=backbone_config)
    assert not predictor.has_segmentation and predictor.loaded.image_size == 518
    images = torch.rand(2, 3, 42, 56)
    torch.testing.assert_close(outputs(predictor.model, images)["depth"], outputs(tiny_model.vggt, images)["depth"])


def _truncated(src, dst):
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "checkpoint file not found"),
        ("text", "cannot read checkpoint"),
        ("truncated_ckpt", "cannot read checkpoint"),
        ("truncated_safetensors", "cannot read checkpoint"),
        ("random_dict", "not a SegVGGT or VGGT checkpoint"),
        ("tensor", "holds a Tensor"),
        ("bare_segvggt", "without their model config"),
        ("plain_safetensors", "without the export metadata"),
    ],
)
def test_wrong_checkpoints_get_one_clear_error(case, message, tiny_model, ckpt_path, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / f"{case}.ckpt"
    if case == "text":
        path.write_text("not a checkpoint")
    elif case == "truncated_ckpt":
        _truncated(ckpt_path, path)
    elif case == "truncated_safetensors":
        full = export_weights(tiny_model, tmp_path / "full.safetensors", benchmark="synthetic", image_size=IMAGE_SIZE)
        path = _truncated(full, tmp_path / "cut.safetensors")
    elif case == "random_dict":
        torch.save({"weights": torch.zeros(3), "step": 4}, path)
    elif case == "tensor":
        torch.save(torch.zeros(3), path)
    elif case == "bare_segvggt":
        torch.save(tiny_model.state_dict(), path)
    elif case == "plain_safetensors":
        path = tmp_path / "plain.safetensors"
        save_file({k: v.contiguous() for k, v in tiny_model.state_dict().items()}, str(path))
    with pytest.raises(CheckpointError, match=message) as info:
        load_model(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
