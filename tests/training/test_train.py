"""Training end to end on the tiny config: fast_dev_run, the CLI's run folder, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from helpers import REPO, TOOLS, tools_on_path


def test_fast_dev_run_fits(tiny_config, tmp_path):
    import lightning as L

    from segvggt.data.datamodule import SceneDataModule
    from segvggt.training.module import SegVGGTModule

    cfg, data = tiny_config()
    module = SegVGGTModule(data)
    before = {k: v.clone() for k, v in module.model.state_dict().items()}
    trainer = L.Trainer(
        fast_dev_run=True, accelerator="cpu", logger=False, enable_progress_bar=False,
        use_distributed_sampler=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(module, datamodule=SceneDataModule(cfg.data))
    after = module.model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "one optimisation step must change the weights"
    assert trainer.global_step == 1


def test_train_cli_writes_the_run_folder(tiny_config, tmp_path):
    tools_on_path()
    import train as train_tool

    run = tmp_path / "run"
    _, data = tiny_config()
    # 4 steps, saved every 3: the run's end is saved too (last.ckpt and the final evaluation see step 4)
    code = train_tool.main(["--config", "tiny", "--out", str(run), "--set", f"data.root={data['data']['root']}",
                            "trainer.max_steps=4", "trainer.checkpoint_every_n_steps=3"])  # fmt: skip
    assert code == 0
    for name in ("config.yaml", "last.ckpt", "metrics.json", "curves.png", "logs/version_0/metrics.csv"):
        assert (run / name).is_file(), name
    def strict(constant: str):  # NaN / Infinity are not JSON: undefined metrics must be null
        raise AssertionError(f"metrics.json holds {constant}")

    metrics = json.loads((run / "metrics.json").read_text(), parse_constant=strict)
    for key in ("ap", "ap50", "ap25", "prompt_miou"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["global_step"] == 4
    _check_logged_term_shares(run / "logs/version_0/metrics.csv")
    ckpt = torch.load(run / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 4
    assert ckpt["hyper_parameters"]["config"]["name"] == "tiny"
    assert (run / "checkpoints" / "step0000004.ckpt").is_file()


def _check_logged_term_shares(csv_path):
    """Every logged step has each term's share of the weighted loss (summing to 1) and of the matching
    cost, FADA included (the tiny config trains with FADA in the loss and the cost)."""
    import csv

    rows = [r for r in csv.DictReader(csv_path.open()) if r.get("train/loss")]
    assert rows
    for row in rows:
        loss_shares = [float(v) for k, v in row.items() if k.startswith("train/share/loss_")]
        assert "train/share/loss_fada" in row and sum(loss_shares) == pytest.approx(1.0, abs=1e-5)
        for kind in ("magnitude", "spread"):
            cost = [float(v) for k, v in row.items() if k.startswith(f"train/share/cost_{kind}_") and v]
            assert row[f"train/share/cost_{kind}_fada"] != "" and sum(cost) == pytest.approx(1.0, abs=1e-5)


def test_resume_after_sigkill_continues_at_the_right_step(tiny_config, tmp_path):
    """A run killed (SIGKILL) after step 5 resumes from its step-4 checkpoint and ends at step 8
    with the optimiser and schedule of an uninterrupted run."""
    _, data = tiny_config()
    root = data["data"]["root"]
    run = tmp_path / "run"
    sets = [f"data.root={root}", "trainer.max_steps=8", "trainer.checkpoint_every_n_steps=2", "trainer.val_every_n_steps=100"]
    killer = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(TOOLS)!r})
        import lightning as L
        from _common import experiment_config
        from segvggt.training.run import prepare_run_dir, train

        class KillAtStep(L.Callback):
            def on_train_batch_end(self, trainer, *args):
                if trainer.global_step == 5:
                    os.kill(os.getpid(), signal.SIGKILL)

        cfg, d = experiment_config("tiny", {sets!r})
        prepare_run_dir({str(run)!r}, d, resume=False)
        train(cfg, d, {str(run)!r}, final_eval=False, extra_callbacks=(KillAtStep(),))
    """)
    proc = subprocess.run([sys.executable, "-c", killer], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    killed = torch.load(run / "last.ckpt", map_location="cpu", weights_only=True)
    assert killed["global_step"] == 4  # the last complete checkpoint before the kill
    assert not [p for p in os.listdir(run) if p.startswith(".last.ckpt")]  # no half-written file left

    tools_on_path()
    import train as train_tool

    assert train_tool.main(["--config", "tiny", "--out", str(run), "--resume", "--no-final-eval"]) == 0
    done = torch.load(run / "last.ckpt", map_location="cpu", weights_only=True)
    assert done["global_step"] == 8
    scheduler = done["lr_schedulers"][0]
    assert scheduler["last_epoch"] == 8  # the schedule continued, it did not restart
    from segvggt.training.curves import read_metrics_csv

    logs = sorted((run / "logs").glob("version_*/metrics.csv"))
    assert len(logs) == 2  # the killed attempt's log is kept beside the resumed one
    logged = [step for step, _ in read_metrics_csv(logs)["train/loss"]]
    assert logged == list(range(8))
    # ... and the weights of an uninterrupted run of the same config.
    straight = tmp_path / "straight"
    assert train_tool.main(["--config", "tiny", "--out", str(straight), "--no-final-eval", "--set", *sets]) == 0
    reference = torch.load(straight / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert reference.keys() == done["state_dict"].keys()
    for key, value in reference.items():
        torch.testing.assert_close(done["state_dict"][key], value, atol=1e-6, rtol=1e-5, msg=key)
    # The newest keep_checkpoints (tiny: 2) periodic files remain, older ones were removed.
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step0000006.ckpt", "step0000008.ckpt"]
