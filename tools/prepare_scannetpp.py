"""Prepare ScanNet++ scenes into the prepared-scene format (docs/DESIGN.md).

python tools/prepare_scannetpp.py --raw RAW --out OUT [--source iphone|dslr] [--frame-skip 10]
    [--scenes 355e5e32db ...] [--width 640] [--height H] [--split NAME] [--overwrite] [--skip-bad]
"""

from __future__ import annotations

import argparse
import logging
import sys


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
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--skip-bad", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from segvggt.data.errors import DataError
    from segvggt.data.scannetpp import ScanNetppPrepConfig, prepare_scannetpp

    cfg = ScanNetppPrepConfig(source=args.source, frame_skip=args.frame_skip, width=args.width, height=args.height)
    try:
        s = prepare_scannetpp(args.raw, args.out, cfg, scenes=args.scenes, split=args.split,
                              overwrite=args.overwrite, skip_bad=args.skip_bad)  # fmt: skip
    except (DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"prepared {len(s['prepared'])}, already prepared {len(s['resumed'])}, skipped bad {len(s['skipped_bad'])}, "
        f"frames with non-finite pose skipped {s['frames_skipped_nonfinite_pose']}"
    )
    return 1 if s["skipped_bad"] and not (s["prepared"] or s["resumed"]) else 0


if __name__ == "__main__":
    sys.exit(main())
