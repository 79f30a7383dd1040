"""Measurement: the ground-truth oracle of the 2D -> 3D protocol on ScanNet++ scenes whose
segments.json has one segment per vertex (the current release, toolkit issue #48), against the
same scenes with over-segments (where the superpoint vote can repair the lifted masks).

    python benchmarks/oracle_scannetpp.py --out /tmp/pp_oracle [--scenes 4] [--frames 20] [--sources iphone dslr]

Writes N furnished synthetic rooms in the ScanNet++ release layout (tests/data/scannetpp_fixtures.py:
mesh, segments, segGroups with raw labels, map_benchmark.csv, iPhone rgb/depth/COLMAP/nerfstudio,
DSLR undistorted images/COLMAP/transforms_undistorted.json) twice, identical but for segments.json,
prepares them with tools/prepare_scannetpp.py (every 2nd frame, 160 px wide) and runs
`tools/eval.py --config scannetpp --oracle` on each prepared root. Prints AP / AP50 / AP25 per
(segments, source) and the commands to rerun one evaluation by hand.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "data"))
sys.path.insert(0, str(ROOT / "tools"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="work folder (raw layouts, prepared scenes, results)")
    p.add_argument("--scenes", type=int, default=4)
    p.add_argument("--frames", type=int, default=20, help="capture frames per scene (every 2nd is prepared)")
    p.add_argument("--sources", nargs="+", default=["iphone", "dslr"], choices=["iphone", "dslr"])
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    import eval as eval_tool
    import prepare_scannetpp
    from scannetpp_fixtures import write_metadata, write_scannetpp_room

    out = Path(args.out)
    ids = [f"{k:02d}a1b2c3d4"[:10] for k in range(args.scenes)]
    rows = []
    for segments in ("vertex", "over"):
        raw = out / f"raw_{segments}"
        shutil.rmtree(raw, ignore_errors=True)
        for k, sid in enumerate(ids):
            write_scannetpp_room(raw, sid, seed=100 + k, frames=args.frames, segments=segments, sources=tuple(args.sources))
        write_metadata(raw, val_scenes=tuple(ids))
        for source in args.sources:
            prepared = out / f"prepared_{segments}_{source}"
            shutil.rmtree(prepared, ignore_errors=True)
            code = prepare_scannetpp.main(["--raw", str(raw), "--out", str(prepared), "--source", source,
                                           "--frame-skip", "2", "--width", "160"])  # fmt: skip
            if code:
                return code
            result = out / f"oracle_{segments}_{source}.json"
            code = eval_tool.main(["--config", "scannetpp", "--oracle", "--data-root", str(prepared), "--device", "cpu",
                                   "--json", str(result)])  # fmt: skip
            if code:
                return code
            r = json.loads(result.read_text())
            rows.append((segments, source, r["ap"], r["ap50"], r["ap25"]))
    print(f"\noracle on {args.scenes} generated ScanNet++ scenes (tools/eval.py --config scannetpp --oracle):")
    print("| segments.json | source | AP | AP50 | AP25 |\n|---|---|---|---|---|")
    for segments, source, ap, ap50, ap25 in rows:
        what = "one segment per vertex (release, #48)" if segments == "vertex" else "over-segments"
        print(f"| {what} | {source} | {ap:.3f} | {ap50:.3f} | {ap25:.3f} |")
    print(f"\nrerun one: python tools/eval.py --config scannetpp --oracle --data-root {out}/prepared_vertex_{args.sources[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
