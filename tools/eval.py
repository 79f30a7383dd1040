"""Evaluate a trained SegVGGT (or the oracle) on prepared scenes.

    python tools/eval.py --config synthetic --ckpt runs/synthetic-.../last.ckpt --json results.json
    python tools/eval.py --config scannetv2 --oracle --data-root data/scannet_prepared
    python tools/eval.py --config scannet200 --ckpt last.ckpt --data-root DIR --submission OUT_DIR
    python tools/eval.py --config scannetpp --ckpt scannet200.ckpt --data-root data/scannetpp   # zero-shot

Reports instance AP (class-aware and class-agnostic, ScanNet protocol on the scene points after
lifting the multi-view masks), depth Abs Rel / delta<1.25, camera AUC@30 and click-prompt metrics.
The JSON has `ap`, `ap50`, `ap25` at its top level, plus everything needed to reproduce the numbers
(undefined metrics are `null`, never `NaN`). An empty split, or one without ground-truth instances, is
refused rather than reported without AP. Bad input: one line on stderr, exit 2, nothing written.

Zero-shot (the paper's Table 2): a checkpoint trained on another benchmark than the config's data
(e.g. ScanNet200 -> ScanNet++) is evaluated class-agnostically on every instance, and class-aware
over the target classes a label map reaches (segvggt/data/label_maps.py); the JSON's `zero_shot`
lists the map's reached and unreached classes.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import subprocess
from pathlib import Path

from _common import REPO, OneLineParser, ToolError, experiment_config, resolve_config_path, run_tool


def parse_args(argv=None) -> argparse.Namespace:
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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


def check_inputs(args, cfg) -> None:
    """Everything that can be refused before a model is loaded: data, split, output paths."""
    from segvggt.data.prepared import read_split
    from segvggt.validation import check_fillable_folder, check_not_an_input, check_output_file

    root = Path(cfg.data.root)
    if not root.is_dir():
        raise ToolError(f"data root {root} does not exist; pass --data-root with prepared scenes")
    if not read_split(root, cfg.eval.split):
        raise ToolError(
            f"split {cfg.eval.split} of {root} lists no scenes ({root / 'splits' / (cfg.eval.split + '.txt')} is "
            "empty); choose another --split or prepare scenes for it"
        )
    config_file = resolve_config_path(args.config)
    inputs = [("data root", root), ("checkpoint", args.ckpt), ("config", config_file)]
    if args.json:
        check_output_file(args.json, "--json", inputs)
    if args.submission:
        check_not_an_input(args.submission, "--submission", inputs)
        check_fillable_folder(args.submission, "--submission", lambda f: (f / "pred_mask").is_dir(),
                              "a submission folder (no pred_mask/)")  # fmt: skip


def _zero_shot(model_benchmark: str, data_benchmark: str) -> dict:
    """What a cross-benchmark evaluation does, for the console and the JSON."""
    from segvggt.data.label_maps import label_map

    m = label_map(model_benchmark, data_benchmark)
    if not m.mapping:
        raise ToolError(f"a {model_benchmark} checkpoint shares no class with {data_benchmark}; nothing to evaluate")
    return {
        "model_benchmark": model_benchmark,
        "data_benchmark": data_benchmark,
        "target_classes": m.target.num_classes,
        "reached_classes": list(m.reached_names),
        "unreached_classes": list(m.unreached_names),
        "unmapped_model_classes": len(m.unmapped_source_names),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    overrides = list(args.overrides)
    if args.data_root:
        overrides.append(f"data.root={args.data_root}")
    if args.split:
        overrides.append(f"eval.split={args.split}")
    cfg, cfg_dict = experiment_config(args.config, overrides)
    check_inputs(args, cfg)

    from segvggt.inference.predictor import resolve_device

    model, device = None, "cpu"
    if args.ckpt:
        device = resolve_device(args.device)
    from segvggt.evaluation.run_eval import evaluate_model
    from segvggt.inference.checkpoints import load_model
    from segvggt.inference.errors import InferenceError

    zero_shot = None
    if args.ckpt:
        try:
            loaded = load_model(args.ckpt)
        except (InferenceError, ValueError) as err:
            raise ToolError(str(err)) from err
        if not loaded.has_segmentation:
            raise ToolError(f"{args.ckpt} is a geometry-only VGGT checkpoint; evaluation needs a SegVGGT checkpoint")
        if loaded.benchmark != cfg.data.benchmark:
            zero_shot = _zero_shot(loaded.benchmark, cfg.data.benchmark)
            reached = len(zero_shot["reached_classes"])
            print(f"zero-shot: {args.ckpt} was trained on {loaded.benchmark}; evaluating {cfg.data.benchmark}: "
                  f"class-agnostic AP on every instance, class-aware AP over the {reached} of "
                  f"{zero_shot['target_classes']} classes the label map reaches")  # fmt: skip
        model = loaded.model.to(device).eval()
    metrics, per_class, frames = evaluate_model(
        model, cfg, oracle=args.oracle, submission_dir=args.submission, progress=True, device=device,
        return_details=True, model_benchmark=zero_shot["model_benchmark"] if zero_shot else None,
    )  # fmt: skip
    ap_key = "agnostic_ap" if zero_shot else "ap"
    if not math.isfinite(metrics.get(ap_key, math.nan)):
        raise ToolError(
            f"split {cfg.eval.split} of {cfg.data.root} has no ground-truth instance of an evaluated class in "
            f"{metrics['num_scenes']} scene(s), so AP is undefined; evaluate a split with annotated objects"
        )
    print(f"{'oracle' if args.oracle else args.ckpt}: {metrics['num_scenes']} scenes of {cfg.data.root} ({cfg.eval.split})")
    for key in ("ap", "ap50", "ap25", "agnostic_ap", "agnostic_ap50", "agnostic_ap25", "depth_abs_rel", "depth_delta1",
                "pose_auc30", "pose_auc30_identity", "pose_auc30_constant_translation", "instance_consistency",
                "prompt_miou", "prompt_macc", "prompt_frame_iou", "prompt_positive_iou", "prompt_successful_iou",
                "prompt_success_rate", "prompt_consistency"):  # fmt: skip
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
            "zero_shot": zero_shot,
        }
        from segvggt.atomic import atomic_write_text

        out = Path(args.json)
        from segvggt.evaluation.report import finite_or_null

        atomic_write_text(out, json.dumps(finite_or_null(result), indent=1, allow_nan=False))
        print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    run_tool(main)
