"""Click answer from the cached encoding / full forward pass, measured in one run (not a test).

Claim (goal): answering a click prompt with `Predictor.segment` (query decoder only, the backbone's
encoding is cached by `set_images`) takes <= 0.05 x a full `model(images, prompts)` forward.
Model: the small 24-layer configuration of bench_postprocess.py (random weights), S views of 112 x 84.

    python benchmarks/bench_prompt_cache.py [--device cpu|cuda] [--frames 8 16] [--repeats 5] [--width 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_postprocess import small_predictor, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None)
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--width", type=int, default=64, help="aggregator width C (VGGT-1B: 1024)")
    args = parser.parse_args()
    predictor = small_predictor(args.device, args.width)
    device = predictor.device
    print(f"device {device}; C = {args.width}; network 112x84; one prompt of two clicks")
    print(f"{'S':>4} {'full forward s':>15} {'cached click s':>15} {'click/full':>11}")
    for S in args.frames:
        torch.manual_seed(S)
        images = torch.rand(S, 3, 84, 112, device=device)
        clicks = [(0, 30.0, 40.0, True), (S - 1, 70.0, 20.0, False)]
        predictor.set_images(images, memory_check=False)

        def full() -> None:
            with torch.no_grad(), predictor._autocast():  # noqa: SLF001
                predictor.model(images[None], [[clicks]])

        def click() -> None:
            predictor.segment(clicks)

        full(), click()  # warm-up
        t_full = statistics.median(timed(full, device) for _ in range(args.repeats))
        t_click = statistics.median(timed(click, device) for _ in range(args.repeats))
        print(f"{S:>4} {t_full:>15.3f} {t_click:>15.4f} {t_click / t_full:>11.3f}")
    print("goal: click/full <= 0.05")


if __name__ == "__main__":
    main()
