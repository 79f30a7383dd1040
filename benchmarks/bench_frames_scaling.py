"""Inference time and peak memory against the number of frames S, measured in one run (not a test).

Shows how a full `set_images` + `segment_all` grows with S = 2..32 (the global attention over all S x P
tokens grows quadratically; everything else linearly), next to the estimate that `tools/infer.py` checks
before running (segvggt.inference.memory.estimate_peak_bytes) - the estimate must stay above the measurement.
Model: the small 24-layer configuration of bench_postprocess.py, 112 x 84 network images, random weights.
Time: median of --repeats runs. Peak memory: torch.cuda.max_memory_allocated on GPU; on CPU the peak of the running sum of allocations
and frees recorded by torch's profiler (profile_memory=True), above what was allocated before the call.

    python benchmarks/bench_frames_scaling.py [--device cpu|cuda] [--frames 2 4 8 16 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _measure import peak_memory  # noqa: E402
from bench_postprocess import small_predictor, timed  # noqa: E402

from segvggt.inference.memory import estimate_peak_bytes  # noqa: E402

MIB = float(1 << 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None)
    parser.add_argument("--frames", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    predictor = small_predictor(args.device)
    device = predictor.device
    act_bytes = 2 if predictor.autocast_dtype is not None else 4
    print(f"device {device}; network 112x84; set_images + segment_all")
    print(f"{'S':>4} {'time s':>8} {'time/S2':>8} {'peak MiB':>9} {'peak/S2':>8} {'estimate MiB':>13} {'est/peak':>9}")
    base_t = base_m = None
    for S in args.frames:
        images = torch.rand(S, 3, 84, 112, device=device)

        def run() -> None:
            predictor.set_images(images, memory_check=False)
            predictor.segment_all(score_threshold=0.0)

        run()  # warm-up
        t = statistics.median(timed(run, device) for _ in range(args.repeats))
        predictor._scene = None  # noqa: SLF001 - measure from an empty cache
        peak = peak_memory(run, device)
        estimate = estimate_peak_bytes(predictor.model, S, 84, 112, act_bytes)
        base_t, base_m = base_t or t, base_m or peak
        print(f"{S:>4} {t:>8.3f} {t / base_t:>8.2f} {peak / MIB:>9.1f} {peak / base_m:>8.2f} {estimate / MIB:>13.1f} "
              f"{estimate / peak:>9.2f}")


if __name__ == "__main__":
    main()
