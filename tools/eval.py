"""Evaluate a trained SegVGGT (or the oracle) on prepared scenes.

    python tools/eval.py --config synthetic --ckpt runs/synthetic-.../last.ckpt --json results.json
    python tools/eval.py --config scannetv2 --oracle --data-root data/scannet_prepared
    python tools/eval.py --config scannet200 --ckpt last.ckpt --data-root DIR --submission OUT_DIR

Reports instance AP (class-aware and class-agnostic, ScanNet protocol on the scene points after
lifting the multi-view masks), depth Abs Rel / delta<1.25, camera AUC@30 and click-prompt metrics.
The JSON has `ap`, `ap50`, `ap25` at its top level, plus everything needed to reproduce the numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

from _common import REPO, ToolError, experiment_config, run_tool


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="config name in configs/ or a YAML path")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--ckpt", help="SegVGGT checkpoint (.ckpt from tools/train.py or exported .safetensors)")
    which.add_argument("--oracle", action="store_true", help="lift the ground-truth 2D masks (the protocol's ceiling)")
    p.add_argument("--data-root", help="prepared scenes (e.g. the output of tools/prepare_scannet.py)")
    p.add_argument("--split", help="split to evaluate (default: eval.split of the config)")
    p.add_argument("--json", help="write the results JSON here")
    p.add_argument("--submission", help="also write the official submission format into this folder")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    return p.parse_args(argv)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv=None) -> int:
    args = parse_args(argv)
    overrides = list(args.overrides)
    if args.data_root:
        overrides.append(f"data.root={args.data_root}")
    if args.split:
        overrides.append(f"eval.split={args.split}")
    cfg, cfg_dict = experiment_config(args.config, overrides)
    if not Path(cfg.data.root).is_dir():
        raise ToolError(f"data root {cfg.data.root} does not exist; pass --data-root with prepared scenes")

    import torch

    from segvggt.evaluation.run_eval import evaluate_model
    from segvggt.inference.checkpoints import load_model
    from segvggt.inference.errors import InferenceError

    model, device = None, "cpu"
    if args.ckpt:
        try:
            loaded = load_model(args.ckpt)
        except (InferenceError, ValueError) as err:
            raise ToolError(str(err)) from err
        if not loaded.has_segmentation:
            raise ToolError(f"{args.ckpt} is a geometry-only VGGT checkpoint; evaluation needs a SegVGGT checkpoint")
        if loaded.benchmark != cfg.data.benchmark:
            raise ToolError(f"{args.ckpt} was trained for benchmark {loaded.benchmark!r}, the config evaluates {cfg.data.benchmark!r}")
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = loaded.model.to(device).eval()
    metrics, per_class, frames = evaluate_model(
        model, cfg, oracle=args.oracle, submission_dir=args.submission, progress=True, device=device, return_details=True
    )
    print(f"{'oracle' if args.oracle else args.ckpt}: {metrics['num_scenes']} scenes of {cfg.data.root} ({cfg.eval.split})")
    for key in ("ap", "ap50", "ap25", "agnostic_ap", "agnostic_ap50", "agnostic_ap25", "depth_abs_rel", "depth_delta1",
                "pose_auc30", "pose_auc30_identity", "pose_auc30_constant_translation", "prompt_miou", "prompt_macc",
                "prompt_positive_iou", "prompt_successful_iou",
                "prompt_consistency"):  # fmt: skip
        if key in metrics:
            print(f"  {key:24s} {metrics[key]:.4f}")
    if args.json:
        config_text = json.dumps(cfg_dict, sort_keys=True)
        result = {
            **{k: metrics[k] for k in ("ap", "ap50", "ap25") if k in metrics},
            "metrics": metrics,
            "per_class": per_class,
            "checkpoint": args.ckpt,
            "oracle": bool(args.oracle),
            "config": cfg_dict,
            "config_hash": hashlib.sha256(config_text.encode()).hexdigest()[:16],
            "commit": _commit(),
            "seed": cfg.eval.seed,
            "frames": frames,
            "eval": dataclasses.asdict(cfg.eval),
        }
        from segvggt.atomic import atomic_write_text

        out = Path(args.json)
        atomic_write_text(out, json.dumps(result, indent=1, allow_nan=True))
        print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    run_tool(main)
