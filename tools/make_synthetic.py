"""Generate the embedded synthetic dataset (ray-cast rooms) in the prepared-scene format.

    python tools/make_synthetic.py --out data/synthetic --num-train 200 --num-val 20 --seed 0
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segvggt.data.errors import DataError  # noqa: E402
from segvggt.data.synthetic import SyntheticSpec, generate  # noqa: E402
from _common import parse_size  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.frames < 1 or args.workers < 1 or args.num_train < 0 or args.num_val < 0:
        print("error: --frames and --workers must be >= 1, scene counts >= 0", file=sys.stderr)
        return 2
    try:
        spec = SyntheticSpec(
            width=args.size[0], height=args.size[1], frames=args.frames, trajectory=args.trajectory,
            sweep_degrees=tuple(args.sweep_degrees),
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        report = generate(
            args.out, num_train=args.num_train, num_val=args.num_val, seed=args.seed, spec=spec, workers=args.workers
        )
    except (DataError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    made = max(report.generated, 1)
    print(
        f"{args.out}: {report.generated} scenes generated, {report.cached} already there, "
        f"{report.seconds:.1f} s ({report.seconds / made:.2f} s per generated scene)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
