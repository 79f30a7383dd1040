"""Generate the embedded synthetic dataset (ray-cast rooms) in the prepared-scene format.

    python tools/make_synthetic.py --out data/synthetic --num-train 200 --num-val 20 --seed 0

OUT must be new, empty or a prepared dataset (scenes already there are kept and reused).
Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import OneLineParser, ToolError, parse_size, run_tool  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output root (prepared format)")
    parser.add_argument("--num-train", type=int, default=200)
    parser.add_argument("--num-val", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=parse_size, default=(112, 84), help="WxH, multiples of 14 avoid resizing")
    parser.add_argument("--frames", type=int, default=10, help="frames per scene")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--trajectory", choices=("orbit", "sweep"), default="orbit", help="camera path (see synthetic.py)")
    parser.add_argument("--sweep-degrees", type=float, nargs=2, default=(90.0, 150.0), metavar=("LOW", "HIGH"),
                        help="arc of a sweep, drawn uniformly per room")
    parser.add_argument("--walls", choices=("uniform", "distinct"), default="uniform",
                        help="uniform: one pale colour; distinct: a hue per wall (see synthetic.py)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.frames < 1 or args.workers < 1 or args.num_train < 0 or args.num_val < 0:
        raise ToolError("--frames and --workers must be >= 1, scene counts >= 0")
    from segvggt.data.synthetic import SyntheticSpec, generate
    from segvggt.validation import check_fillable_folder, looks_prepared

    check_fillable_folder(args.out, "--out", looks_prepared, "a prepared dataset")
    try:
        spec = SyntheticSpec(
            width=args.size[0], height=args.size[1], frames=args.frames, trajectory=args.trajectory,
            sweep_degrees=tuple(args.sweep_degrees), walls=args.walls,
        )
    except ValueError as err:
        raise ToolError(str(err)) from err
    try:
        report = generate(
            args.out, num_train=args.num_train, num_val=args.num_val, seed=args.seed, spec=spec, workers=args.workers
        )
    except ValueError as err:
        raise ToolError(str(err)) from None
    made = max(report.generated, 1)
    print(
        f"{args.out}: {report.generated} scenes generated, {report.cached} already there, "
        f"{report.seconds:.1f} s ({report.seconds / made:.2f} s per generated scene)"
    )
    return 0


if __name__ == "__main__":
    run_tool(main, "interrupted: run the same command again to continue (finished scenes are kept)")
