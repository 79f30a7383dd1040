"""The scannet200 recipe's structure on CPU: its config (via `base:`) with a tiny backbone, a
pre-trained VGGT file, the frozen teacher, LoRA, prompts, FADA, bf16-mixed and gradient clipping,
through tools/train.py; then the checkpoint layout and the final evaluation against tools/eval.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

from helpers import REPO, tools_on_path  # noqa: E402

TINY_BACKBONE = {
    "vggt": {"img_size": 56, "patch_size": 14, "embed_dim": 32, "enable_camera": True, "enable_depth": True,
             "enable_point": True},
    "aggregator": {"depth": 4, "num_heads": 2, "patch_embed": "conv", "qk_norm": True, "rope_freq": 100,
                   "init_values": 0.01},
    "camera_head": {"dim_in": 64, "trunk_depth": 1, "num_heads": 2},
    "dpt_common": {"dim_in": 64, "features": 8, "out_channels": [4, 8, 16, 16], "intermediate_layer_idx": [0, 1, 2, 3]},
    "dpt_frames_chunk_size": 2,
}  # fmt: skip
SCENE = "scene0011_00"


@pytest.fixture(scope="module")
def prepared_scannet200(tmp_path_factory) -> Path:
    """One ScanNet-layout scan prepared for ScanNet200; the scene serves as the train and the val split."""
    from scannet_from_synthetic import write_scannet_layout

    tools_on_path()
    import prepare_scannet

    raw = tmp_path_factory.mktemp("raw200")
    write_scannet_layout(raw, SCENE, seed=3, frames=12, color_hw=(90, 120), depth_hw=(60, 80), spacing=0.1,
                         min_objects=5, max_objects=7)  # fmt: skip
    out = tmp_path_factory.mktemp("prepared200")
    assert prepare_scannet.main(["--raw", str(raw), "--out", str(out), "--benchmark", "scannet200",
                                 "--frame-skip", "2", "--size", "120x90"]) == 0  # fmt: skip
    (out / "splits" / "train.txt").write_text(SCENE + "\n")
    return out


@pytest.fixture(scope="module")
def pretrained_file(tmp_path_factory) -> Path:
    from segvggt.backbone import build_vggt

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vggt") / "model.pt"
    torch.save(build_vggt(TINY_BACKBONE).state_dict(), path)
    return path


def test_scannet200_recipe_trains_with_bf16_and_clipping(prepared_scannet200, pretrained_file, tmp_path, capsys):
    tools_on_path()
    import eval as eval_tool
    import train as train_tool

    config = tmp_path / "scannet200_tiny.yaml"
    config.write_text(yaml.safe_dump({
        "base": str(REPO / "configs" / "scannet200.yaml"),
        "pretrained": str(pretrained_file),
        "model": {"backbone": TINY_BACKBONE, "num_queries": 6, "query_heads": 2, "mask_dim": 8, "lora_rank": 4},
        "data": {"root": str(prepared_scannet200), "image_size": 56, "max_frames": 3, "max_images_per_batch": 6,
                 "val_frames": 4, "num_workers": 0},
        "loss": {"num_points": 300, "points_per_instance": 8},
        "trainer": {"accelerator": "cpu", "devices": 1, "strategy": "auto", "max_steps": 3, "log_every_n_steps": 1,
                    "val_every_n_steps": 2, "limit_val_batches": 1, "checkpoint_every_n_steps": 1,
                    "keep_checkpoints": 1, "threads": 1},
        "eval": {"max_frames": 4},
    }))  # fmt: skip
    run = tmp_path / "run"
    assert train_tool.main(["--config", str(config), "--out", str(run)]) == 0

    ckpt = torch.load(run / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 3
    # The size printed at the start is that of the files (which add a few kB of loop and scheduler state).
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("checkpoints: about"))
    expected_mb = float(line.split("about ")[1].split(" MB")[0])
    assert "x at most 3 files" in line and expected_mb * 1e6 <= (run / "last.ckpt").stat().st_size <= expected_mb * 1.2e6
    # bf16-mixed: the frozen matrices (LoRA's base layers, the frozen patch embedding) are stored in bf16
    state = ckpt["state_dict"]
    assert state["model.vggt.aggregator.frame_blocks.0.attn.qkv.base_layer.weight"].dtype == torch.bfloat16
    assert state["model.vggt.aggregator.frame_blocks.0.mlp.fc1.weight"].dtype == torch.float32  # trainable
    assert ckpt["hyper_parameters"]["config"]["trainer"]["precision"] == "bf16-mixed"
    assert ckpt["optimizer_states"][0]["param_groups"][0]["fused"] is True
    keys = list(ckpt["state_dict"])
    assert keys and all(k.startswith("model.") for k in keys)  # no teacher.* / _teacher.* copy
    assert any(".lora_A." in k for k in keys)
    # keep_checkpoints=1: one periodic file (the newest), plus last.ckpt and best.ckpt (validation ran)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step0000003.ckpt"]
    assert (run / "best.ckpt").is_file()
    import csv

    rows = list(csv.DictReader((run / "logs" / "version_0" / "metrics.csv").open()))
    norms = [float(r["train/grad_norm"]) for r in rows if r.get("train/grad_norm")]
    assert len(norms) == 3 and all(n > 0 and n == n for n in norms)

    # The final evaluation read last.ckpt on the training device: equal to tools/eval.py on it.
    final = json.loads((run / "metrics.json").read_text())
    assert final["device"] == "cpu" and final["global_step"] == 3
    result = tmp_path / "eval.json"
    assert eval_tool.main(["--config", str(config), "--ckpt", str(run / "last.ckpt"), "--device", "cpu",
                           "--json", str(result)]) == 0  # fmt: skip
    evaluated = json.loads(result.read_text())["metrics"]
    for key in ("ap", "ap50", "ap25", "depth_abs_rel", "pose_auc30", "prompt_miou"):
        assert final[key] == evaluated[key], key  # both write an undefined metric as null
