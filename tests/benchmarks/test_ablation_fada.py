"""benchmarks/ablation_fada.py: its overrides are valid config, finished runs are skipped, and the
table averages seeds and the logged FADA shares as stated (hand-made run folders, no training)."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from helpers import REPO, tools_on_path


def _driver():
    spec = importlib.util.spec_from_file_location("ablation_fada", REPO / "benchmarks" / "ablation_fada.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ablation_fada"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_variant_is_a_valid_config():
    tools_on_path()
    from _common import experiment_config

    drv = _driver()
    for variant in drv.VARIANTS.values():
        cfg, _ = experiment_config("synthetic_fada", variant.overrides())
        assert (cfg.loss.fada_loss, cfg.loss.fada_in_cost) == (variant.loss, variant.cost)
        assert cfg.loss.w_fada == variant.weight and cfg.loss.fada_frame_normalization == variant.per_frame
    cfg, _ = experiment_config("synthetic_fada", [])
    assert cfg.data.synthetic_frames == 24 and cfg.data.max_frames <= cfg.data.max_images_per_batch


def _fake_run(run, metrics, shares_by_step):
    (run / "logs" / "version_0").mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "wall.json").write_text(json.dumps({"seconds": 120.0}))
    keys = sorted({k for row in shares_by_step.values() for k in row})
    lines = [",".join(["step", *keys])]
    lines += [",".join([str(s), *(str(row.get(k, "")) for k in keys)]) for s, row in sorted(shares_by_step.items())]
    (run / "logs" / "version_0" / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_table_means_seeds_and_second_half_shares(tmp_path, monkeypatch):
    drv = _driver()
    base = {"ap": 0.2, "agnostic_ap50": 0.5, "prompt_miou": 0.4, "global_step": 400, "num_scenes": 48}
    shares = {
        0: {"train/share/loss_fada": 0.9, "train/share/cost_spread_fada": 0.9, "train/share/cost_magnitude_fada": 0.9},
        300: {"train/share/loss_fada": 0.01, "train/share/cost_spread_fada": 0.02, "train/share/cost_magnitude_fada": 0.03},
        400: {"train/share/loss_fada": 0.03, "train/share/cost_spread_fada": 0.04, "train/share/cost_magnitude_fada": 0.05},
    }
    _fake_run(drv.run_dir(tmp_path, "loss_cost", 0), {**base, "ap50": 0.30}, shares)
    _fake_run(drv.run_dir(tmp_path, "loss_cost", 1), {**base, "ap50": 0.40}, shares)
    for seed, js in ((0, 0.2), (1, 0.3)):  # the held-out attention measurement, as cached by the driver
        (drv.run_dir(tmp_path, "loss_cost", seed) / "heldout_js.json").write_text(json.dumps({"js": js, "js_own": 0.1, "uniform_js": 0.4}))
    table = drv.markdown_table(tmp_path, ["none", "loss_cost"], [0, 1])
    row = next(line for line in table.splitlines() if line.startswith("| loss_cost ("))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # AP50 mean 35.0, sample sd of (30, 40) = 7.07; shares: mean of steps 300 and 400 (second half), in %
    assert cells[1:6] == ["0,1", "35.0 ± 7.1", "20.0 ± 0.0", "50.0 ± 0.0", "40.0 ± 0.0"]
    assert cells[6:] == ["4.00 ± 0.00", "3.00 ± 0.00", "2.00 ± 0.00", "0.250 ± 0.071", "0.100 ± 0.000", "0.400 ± 0.000"]
    assert "| none (" not in table  # no finished run, no row
    assert "| loss_cost-s1 | 400 | 2.0 | 48 | 40.0 | 20.0 | 50.0 | 40.0 | 0.300 |" in table

    calls = []
    monkeypatch.setattr(drv.subprocess, "run", lambda *a, **k: calls.append(a))
    assert drv.run_one("synthetic_fada", tmp_path, drv.VARIANTS["loss_cost"], 0, 400)  # finished: skipped
    assert calls == []


@pytest.mark.parametrize("resume", [False, True])
def test_train_command_goes_through_tools_train(tmp_path, resume):
    drv = _driver()
    cmd = drv.train_command("synthetic_fada", tmp_path / "r", drv.VARIANTS["loss_cost_sum"], 3, 50, resume)
    assert cmd[1].endswith("tools/train.py") and cmd[cmd.index("--out") + 1] == str(tmp_path / "r")
    if resume:
        assert "--resume" in cmd and "--set" not in cmd
    else:
        sets = cmd[cmd.index("--set") + 1 :]
        assert {"trainer.seed=3", "trainer.max_steps=50", "trainer.threads=1",
                "loss.fada_frame_normalization=false"} <= set(sets)  # fmt: skip


def test_visible_view_fractions_by_hand():
    import numpy as np

    views = np.zeros((4, 10, 100), dtype=np.int64)  # 4 views of 1000 pixels: 0.1 % = 1 pixel
    views[0, 0, :5] = 3  # object 3 in views 0 and 2
    views[2, 5, 5] = 3
    views[:, 9, :] = 7  # object 7 everywhere
    views[1, 0, 0] = 8  # object 8 covers 1 pixel of view 1 only: exactly 0.1 %, counted
    assert _driver().visible_view_fractions(views) == [0.5, 1.0, 0.25]
    assert _driver().visible_view_fractions(views, min_fraction=0.002) == [0.25, 1.0, 0.0]


def test_heldout_attention_js_on_a_tiny_checkpoint(tiny_config, tmp_path):
    """A JS in [0, ln 2] per matched pair over the held-out scenes, the uniform reference beside it,
    cached: a second call reads the cache (the checkpoint is gone by then)."""
    import math

    import torch
    import yaml

    from segvggt.data.dataset import SceneDataset
    from segvggt.evaluation.run_eval import eval_data_config
    from segvggt.segmentation.segvggt import SegVGGT

    cfg, data = tiny_config()
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    torch.manual_seed(0)
    state = {f"model.{k}": v for k, v in SegVGGT.from_config(cfg.model).state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"config": data}, "global_step": 0}, run / "last.ckpt")
    result = _driver().heldout_attention_js(run, max_scenes=2)
    data_cfg = eval_data_config(cfg)
    dataset = SceneDataset(data_cfg, data_cfg.val_split, train=False)
    expected_pairs = sum(
        min(cfg.model.num_queries, dataset[dataset.default_key(i)].targets.num_instances) for i in range(2)
    )
    assert result["scenes"] == 2 and result["pairs"] == expected_pairs > 0
    assert all(0.0 <= result[k] <= math.log(2) for k in ("js", "js_own", "uniform_js"))
    (run / "last.ckpt").unlink()
    assert _driver().heldout_attention_js(run, max_scenes=2) == result
