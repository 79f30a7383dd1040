"""Train SegVGGT.

    python tools/train.py --config synthetic                 # the embedded default (CPU, minutes)
    python tools/train.py --config scannet200 --set trainer.devices=8
    python tools/train.py --config synthetic --out runs/demo --resume   # continue a killed run

The run folder holds config.yaml (the resolved config), last.ckpt, checkpoints/, logs (CSV and
TensorBoard), and at the end metrics.json and curves.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import ToolError, experiment_config, run_tool


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="config name in configs/ (e.g. synthetic, scannet200) or a YAML path")
    p.add_argument("--out", help="run folder (default runs/<config>-<time>)")
    p.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-final-eval", action="store_true", help="skip the held-out evaluation after training")
    return p.parse_args(argv)


def check_inputs(cfg) -> None:
    """Fail in one line, before building a 1B-parameter model, when a file the run needs is missing."""
    from segvggt.hub import resolve_checkpoint

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


def main(argv=None) -> int:
    args = parse_args(argv)
    from segvggt.training.run import prepare_run_dir, train

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
    run_dir = Path(args.out or f"runs/{Path(args.config).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    prepare_run_dir(run_dir, cfg_dict, resume=args.resume)
    metrics = train(cfg, cfg_dict, run_dir, resume=args.resume, final_eval=not args.no_final_eval)
    if metrics:
        print("held-out metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
    print(f"run folder: {run_dir}")
    return 0


if __name__ == "__main__":
    run_tool(main)
