"""Prepare ScanNet++ scenes into the prepared-scene format (docs/DESIGN.md, docs/scannetpp.md).

python tools/prepare_scannetpp.py --raw RAW --out OUT [--source iphone|dslr] [--frame-skip 10]
    [--scenes 355e5e32db ...] [--width 640] [--height H] [--split NAME] [--label-map CSV]
    [--overwrite] [--skip-bad]

RAW is the ScanNet++ root holding data/<scene>/, metadata/ and splits/. Raw annotation labels are
mapped through RAW/metadata/semantic_benchmark/map_benchmark.csv (or --label-map) before the top-100
lookup, as the official toolkit does. Bad input is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def report_lines(summary: dict, source: str) -> list[str]:
    """What the preparation did to labels, images, poses and superpoints, one line each."""
    stats = summary["scene_stats"]
    if not stats:
        return []
    lines = []
    groups = sum(s["seg_groups"] for s in stats.values())
    mapped = sum(s["seg_groups_mapped"] for s in stats.values())
    outside = sum(s["seg_groups_outside_benchmark"] for s in stats.values())
    labels_out = sorted({lab for s in stats.values() for lab in s["labels_outside_benchmark"]})
    shown = ", ".join(labels_out[:8]) + (", ..." if len(labels_out) > 8 else "")
    m = summary["label_mapping"]
    where = f"{m['path']} ({m['rows']} rows)" if m else "no map_benchmark.csv, raw labels looked up directly"
    lines.append(f"label mapping: {where}: {mapped} of {groups} segGroups mapped to another label; "
                 f"{_count(len(labels_out), 'label')} ({outside} segGroups) outside the top-100 benchmark"
                 + (f": {shown}" if labels_out else ""))  # fmt: skip
    for key, what in (("image_dir", "images"), ("pose_source", "poses")):
        used: dict[str, int] = {}
        for s in stats.values():
            used[s[key]] = used.get(s[key], 0) + 1
        lines.append(f"{source} {what}: " + ", ".join(f"{k} ({_count(n, 'scene')})" for k, n in sorted(used.items())))
    unposed = sum(s["frames_without_colmap_pose"] for s in stats.values())
    if unposed:
        lines[-1] += f"; {unposed} frames of transforms_undistorted.json not in COLMAP were left out"
    per_vertex = sum(s["superpoints_per_vertex"] for s in stats.values())
    if per_vertex:
        lines.append(f"segments.json: one segment per vertex in {per_vertex} of {_count(len(stats), 'scene')} "
                     "(ScanNet++ toolkit issue #48): the superpoint vote of the evaluation "
                     "changes nothing there")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--raw", required=True, help="ScanNet++ root holding data/<scene>/")
    p.add_argument("--out", required=True, help="prepared-data root")
    p.add_argument("--source", choices=["iphone", "dslr"], default="iphone")
    p.add_argument("--frame-skip", type=int, default=10, help="keep every N-th posed frame")
    p.add_argument("--scenes", nargs="+", default=None, help="scene ids (default: every scene in RAW/data)")
    p.add_argument("--width", type=int, default=640, help="working width (height follows the aspect ratio)")
    p.add_argument("--height", type=int, default=None)
    p.add_argument("--split", default="custom", help="split for scenes outside RAW/splits/nvs_sem_*.txt")
    p.add_argument("--label-map", default=None,
                   help="map_benchmark.csv (default: RAW/metadata/semantic_benchmark/map_benchmark.csv if present)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--skip-bad", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from segvggt.data.errors import DataError
    from segvggt.data.scannetpp import ScanNetppPrepConfig, prepare_scannetpp

    if args.width < 8 or (args.height is not None and args.height < 8):
        print(f"error: --width/--height must be at least 8 pixels, got {args.width}/{args.height}", file=sys.stderr)
        return 2
    cfg = ScanNetppPrepConfig(source=args.source, frame_skip=args.frame_skip, width=args.width, height=args.height)
    try:
        s = prepare_scannetpp(args.raw, args.out, cfg, scenes=args.scenes, split=args.split,
                              overwrite=args.overwrite, skip_bad=args.skip_bad, label_map=args.label_map)  # fmt: skip
    except (DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in report_lines(s, args.source):
        print(line)
    print(
        f"prepared {len(s['prepared'])}, already prepared {len(s['resumed'])}, skipped bad {len(s['skipped_bad'])}, "
        f"frames with non-finite pose skipped {s['frames_skipped_nonfinite_pose']}"
    )
    return 1 if s["skipped_bad"] and not (s["prepared"] or s["resumed"]) else 0


if __name__ == "__main__":
    sys.exit(main())
