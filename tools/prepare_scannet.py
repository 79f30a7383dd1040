"""Prepare ScanNet v2 / ScanNet200 raw scans into the prepared-scene format (docs/DESIGN.md).

python tools/prepare_scannet.py --raw RAW --out OUT --benchmark scannet|scannet200 [--frame-skip 20]
    [--scenes scene0000_00 ...] [--split-file list.txt] [--split NAME] [--size 640x480]
    [--label-map scannetv2-labels.combined.tsv] [--frame-source auto|sens|export] [--overwrite] [--skip-bad]

OUT must lie outside RAW (a prepared scene replaces OUT/<scene>, which must never be a raw scan) and be
new, empty or a prepared-data root. Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import OneLineParser, ToolError, parse_size, run_tool  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--raw", required=True, help="folder holding scans/<scene>/ (and the label tsv)")
    p.add_argument("--out", required=True, help="prepared-data root")
    p.add_argument("--benchmark", required=True, choices=["scannet", "scannet200"])
    p.add_argument("--frame-skip", type=int, default=20, help="keep frames whose index is a multiple of this")
    p.add_argument("--scenes", nargs="+", default=None, help="scene ids (default: every folder in RAW/scans)")
    p.add_argument("--split-file", default=None, help="text file of scene ids to prepare")
    p.add_argument("--split", default=None, help="split name for scenes outside the official v2 lists")
    p.add_argument("--size", type=parse_size, default=(640, 480), help="working size WxH (default 640x480)")
    p.add_argument("--label-map", default=None, help="scannetv2-labels.combined.tsv (default: search RAW, parent)")
    p.add_argument("--frame-source", choices=["auto", "sens", "export"], default="auto")
    p.add_argument("--overwrite", action="store_true", help="re-prepare scenes that are already prepared")
    p.add_argument("--skip-bad", action="store_true", help="log and count bad scenes instead of stopping")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from segvggt.data.scannet import ScanNetPrepConfig, prepare_scannet
    from segvggt.validation import check_fillable_folder, is_within, looks_prepared

    if args.frame_skip < 1:
        raise ToolError(f"--frame-skip must be >= 1, got {args.frame_skip}")
    if not Path(args.raw).is_dir():
        raise ToolError(f"--raw {args.raw} is not a folder; give the folder holding scans/<scene>/")
    if is_within(args.out, args.raw):
        raise ToolError(f"--out {args.out} lies inside --raw {args.raw} (a prepared scene would replace a raw scan); "
                        "choose an output folder outside the raw data")  # fmt: skip
    check_fillable_folder(args.out, "--out", looks_prepared, "a prepared-data root")
    try:
        cfg = ScanNetPrepConfig(benchmark=args.benchmark, frame_skip=args.frame_skip, size=args.size,
                                frame_source=args.frame_source)  # fmt: skip
        s = prepare_scannet(
            args.raw, args.out, cfg, scenes=args.scenes, split_file=args.split_file, split=args.split,
            label_map=args.label_map, overwrite=args.overwrite, skip_bad=args.skip_bad,
        )  # fmt: skip
    except ValueError as err:
        raise ToolError(str(err)) from None
    print(
        f"prepared {len(s['prepared'])}, already prepared {len(s['resumed'])}, skipped bad {len(s['skipped_bad'])}, "
        f"frames with non-finite pose skipped {s['frames_skipped_nonfinite_pose']}; splits: "
        + ", ".join(f"{k}={len(v)}" for k, v in s["splits"].items())
    )
    return 1 if s["skipped_bad"] and not (s["prepared"] or s["resumed"]) else 0


if __name__ == "__main__":
    run_tool(main, "interrupted: run the same command again to continue (prepared scenes are kept)")
