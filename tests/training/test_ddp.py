"""DDP with 2 CPU processes (ddp_spawn, gloo) gives the losses of one process on the same data."""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch


class RecordLoss(L.Callback):
    """Rank 0 writes the per-step loss averaged over ranks (what the averaged gradient follows)."""

    def __init__(self, path):
        self.path, self.losses = str(path), []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = pl_module.all_gather(outputs["loss"].detach()).float().mean()
        self.losses.append(float(loss))

    def on_train_end(self, trainer, pl_module):
        if trainer.global_rank == 0:
            with open(self.path, "w") as f:
                json.dump(self.losses, f)


def _fit(data: dict, tmp_path, name: str, devices: int, images_per_batch: int) -> list[float]:
    from segvggt.config import experiment_from_dict
    from segvggt.data.datamodule import SceneDataModule
    from segvggt.training.module import SegVGGTModule

    data = json.loads(json.dumps(data))
    # 4 frames = the whole tiny sequence and no jitter: every sample is the same on any rank;
    # no prompts and no geometry loss, whose per-batch sampling / quantiles differ by design.
    data["data"].update(min_frames=4, max_frames=4, max_images_per_batch=images_per_batch, color_jitter=0.0)
    data["prompts"]["prompts_per_scene"] = 0
    data["geometry_supervision"] = "none"
    cfg = experiment_from_dict(data)
    torch.manual_seed(0)
    module = SegVGGTModule(data)
    out = tmp_path / f"{name}.json"
    trainer = L.Trainer(
        accelerator="cpu", devices=devices, strategy="ddp_spawn_find_unused_parameters_true" if devices > 1 else "auto", max_steps=2,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, num_sanity_val_steps=0, use_distributed_sampler=False,
        gradient_clip_val=cfg.optim.grad_clip, callbacks=[RecordLoss(out)], default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(module, datamodule=SceneDataModule(cfg.data))
    return json.loads(out.read_text())


@pytest.mark.slow
def test_ddp_two_processes_match_one_process(tiny_config, tmp_path):
    _, data = tiny_config()
    single = _fit(data, tmp_path, "single", devices=1, images_per_batch=8)  # B = 2 scenes per step
    ddp = _fit(data, tmp_path, "ddp", devices=2, images_per_batch=4)  # B = 1 scene on each of 2 ranks
    assert len(single) == len(ddp) == 2
    # step 0: same weights, same scenes; step 1: after one identical (gradient-averaged) update
    assert ddp == pytest.approx(single, rel=1e-4, abs=1e-5)


@pytest.mark.slow
def test_final_evaluation_after_ddp_equals_tools_eval(tiny_config, tmp_path):
    """With 2 processes the final evaluation runs once (rank 0, on its device) and gives tools/eval.py's numbers."""
    from helpers import tools_on_path

    from segvggt.training.run import prepare_run_dir, train

    cfg, data = tiny_config("trainer.max_steps=2", "trainer.checkpoint_every_n_steps=2", "trainer.val_every_n_steps=100")
    run = tmp_path / "run"
    prepare_run_dir(run, data, resume=False)
    metrics = train(cfg, data, run, devices=2, strategy="ddp_spawn_find_unused_parameters_true")
    final = json.loads((run / "metrics.json").read_text())
    assert final["device"] == "cpu" and final["global_step"] == 2 and metrics["ap50"] == final["ap50"]
    tools_on_path()
    import eval as eval_tool

    result = tmp_path / "eval.json"
    root = data["data"]["root"]
    assert eval_tool.main(["--config", "tiny", "--ckpt", str(run / "last.ckpt"), "--data-root", root, "--device", "cpu",
                           "--json", str(result)]) == 0  # fmt: skip
    evaluated = json.loads(result.read_text())["metrics"]
    for key in ("ap", "ap50", "depth_abs_rel", "prompt_miou"):
        assert final[key] == evaluated[key], key


@pytest.mark.slow
def test_train_cli_with_two_processes_uses_one_run_folder(tiny_data_root, tmp_path):
    """`--set trainer.devices=2` with the default strategy: Lightning's DDP launcher re-runs tools/train.py
    for rank 1, which must train in rank 0's run folder (default name included) instead of refusing it."""
    import subprocess
    import sys

    from helpers import TOOLS

    cmd = [sys.executable, str(TOOLS / "train.py"), "--config", "tiny", "--set", f"data.root={tiny_data_root}",
           "trainer.devices=2", "trainer.strategy=ddp_find_unused_parameters_true", "trainer.threads=1",
           "trainer.max_steps=2", "trainer.checkpoint_every_n_steps=2", "trainer.val_every_n_steps=100"]  # fmt: skip
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("tiny-"), runs  # the default name, chosen once by rank 0
    final = json.loads((runs[0] / "metrics.json").read_text())
    assert final["global_step"] == 2 and torch.load(runs[0] / "last.ckpt", weights_only=True)["global_step"] == 2
