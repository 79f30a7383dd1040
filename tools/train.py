"""Train SegVGGT.

    python tools/train.py --config synthetic                 # the embedded default (CPU, minutes)
    python tools/train.py --config scannet200 --set trainer.devices=8
    python tools/train.py --config synthetic --out runs/demo --resume   # continue a killed run

The run folder holds config.yaml (the resolved config), last.ckpt, checkpoints/, logs (CSV and
TensorBoard), and at the end metrics.json and curves.png. Everything that can be refused (config values,
pre-trained weights, data root, run folder, the checkpoint to resume) is checked before the run folder
is created: bad input leaves nothing behind (one line on stderr, exit 2).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Mapping
from pathlib import Path

from _common import OneLineParser, ToolError, experiment_config, run_tool


# Rank 0 names the run folder here for the processes Lightning's DDP launcher starts (they re-run this
# script with the same arguments, where a default `runs/<config>-<time>` could name another second).
RUN_DIR_ENV = "SEGVGGT_RUN_DIR"


def is_launched_worker() -> bool:
    """True in a process a launcher started for a rank other than 0: Lightning's DDP launcher re-runs
    this script with LOCAL_RANK (and NODE_RANK) set, torchrun sets RANK, SLURM SLURM_PROCID. Such a
    process trains in rank 0's run folder and must not check, create or write it."""
    return any(int(os.environ.get(key, "0") or 0) != 0 for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def parse_args(argv=None) -> argparse.Namespace:
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="config name in configs/ (e.g. synthetic, scannet200) or a YAML path")
    p.add_argument("--out", help="run folder (default runs/<config>-<time>)")
    p.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-final-eval", action="store_true", help="skip the held-out evaluation after training")
    return p.parse_args(argv)


def check_inputs(cfg) -> None:
    """Fail in one line, before building a 1B-parameter model, when a file the run needs is missing
    or the data root cannot be written."""
    from segvggt.hub import resolve_checkpoint
    from segvggt.validation import check_creatable

    pretrained = resolve_checkpoint(cfg.pretrained or None)  # hf://org/name/file -> the cached download (segvggt/hub.py)
    if pretrained is not None and not pretrained.is_file():
        raise ToolError(
            f"pre-trained checkpoint {cfg.pretrained} not found: download the official VGGT-1B model.pt (or "
            "model.safetensors) there, pass --set pretrained=PATH or pretrained=hf://facebook/VGGT-1B/model.pt, "
            "or train from scratch with "
            "--set pretrained=null geometry_supervision=gt"
        )
    if cfg.data.benchmark != "synthetic" and not (Path(cfg.data.root) / "splits").is_dir():
        tool = "prepare_scannetpp.py" if cfg.data.benchmark == "scannetpp" else "prepare_scannet.py"
        raise ToolError(
            f"no prepared {cfg.data.benchmark} data in {cfg.data.root}: run tools/{tool} --out {cfg.data.root} "
            "first, or point --set data.root=DIR at prepared scenes"
        )
    if cfg.data.benchmark == "synthetic" and not (Path(cfg.data.root) / "splits").is_dir():
        check_creatable(cfg.data.root, "data.root (the synthetic scenes are generated there)")
    elif cfg.data.benchmark == "synthetic":
        from segvggt.data.datamodule import check_synthetic_root

        check_synthetic_root(cfg.data)  # rooms rendered for another spec: refused before anything is written


def check_run_dir(run_dir: Path, resume: bool, cfg_dict: dict) -> None:
    """A new run needs a new (or empty) folder that can be written; a resumed one a readable last.ckpt."""
    from segvggt.validation import check_creatable

    if run_dir.exists() and not run_dir.is_dir():
        raise ToolError(f"--out {run_dir} is a file, not a folder; choose a folder for the run")
    if not resume and run_dir.is_dir() and any(run_dir.iterdir()):
        if (run_dir / "last.ckpt").exists():
            raise ToolError(f"{run_dir} already holds a run (last.ckpt); pass --resume to continue it or choose another --out")
        raise ToolError(f"--out {run_dir} already exists and is not empty; choose a new folder for the run")
    check_creatable(run_dir, f"--out {run_dir}")
    last = run_dir / "last.ckpt"
    if resume and last.exists():
        check_resume_checkpoint(last, cfg_dict)


def check_resume_checkpoint(path: Path, cfg_dict: dict) -> None:
    """ToolError unless `path` is a Lightning checkpoint of tools/train.py (read with weights_only=True:
    a pickle holding code is refused and never run; mmap: a 15 GB file is not read into memory)."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on the way to refusing a file
            warnings.simplefilter("ignore", UserWarning)
            try:
                ckpt = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as err:
                if "mmap" not in str(err):
                    raise
                ckpt = torch.load(str(path), map_location="cpu", weights_only=True)  # an old, non-zip file
    except Exception as err:  # noqa: BLE001 - any reader failure means the same thing to the user
        from segvggt.inference.checkpoints import _unreadable

        raise ToolError(f"cannot resume: {_unreadable(path, err)}") from None
    hparams = ckpt.get("hyper_parameters") if isinstance(ckpt, Mapping) else None
    config = hparams.get("config") if isinstance(hparams, Mapping) else None
    if not (isinstance(ckpt, Mapping) and isinstance(ckpt.get("state_dict"), Mapping) and "global_step" in ckpt
            and isinstance(config, Mapping)):  # fmt: skip
        raise ToolError(
            f"cannot resume: {path} is not a checkpoint written by tools/train.py; move it away to start over, or "
            "choose the --out of the run you want to continue"
        )
    if config.get("model") != cfg_dict.get("model"):
        raise ToolError(
            f"cannot resume: {path} holds a model built with another model config than {path.parent / 'config.yaml'}; "
            "resume with the run's own config (do not --set model.* on --resume)"
        )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.resume:
        if not args.out:
            raise ToolError("--resume needs --out RUN_DIR (the folder of the run to continue)")
        saved = Path(args.out) / "config.yaml"
        if not saved.is_file():
            raise ToolError(f"cannot resume: {saved} does not exist (was {args.out} created by tools/train.py?)")
        cfg, cfg_dict = experiment_config(str(saved), args.overrides)
    else:
        cfg, cfg_dict = experiment_config(args.config, args.overrides)
    check_inputs(cfg)
    if is_launched_worker():
        named = os.environ.get(RUN_DIR_ENV) or args.out
        if not named:
            raise ToolError("a process of a multi-process run needs the run folder: pass the same --out to every process")
        from segvggt.training.run import train

        train(cfg, cfg_dict, Path(named), resume=args.resume, final_eval=not args.no_final_eval)
        return 0
    run_dir = Path(args.out or f"runs/{Path(args.config).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    check_run_dir(run_dir, args.resume, cfg_dict)
    from segvggt.training.run import prepare_run_dir, train  # Lightning: only once the inputs are known good

    prepare_run_dir(run_dir, cfg_dict, resume=args.resume)
    os.environ[RUN_DIR_ENV] = str(run_dir)  # inherited by the processes DDP starts (see RUN_DIR_ENV)
    metrics = train(cfg, cfg_dict, run_dir, resume=args.resume, final_eval=not args.no_final_eval)
    if metrics:
        print("held-out metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
    print(f"run folder: {run_dir}")
    return 0


if __name__ == "__main__":
    run_tool(main, "interrupted: continue the run with --resume --out RUN_DIR")
