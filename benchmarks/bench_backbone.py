"""Backbone forward time and peak memory versus the number of views S (small config).

Measures the claim that the aggregator's cost grows with S (global attention over S*P tokens):
prints, per S, the median forward time and peak memory and both ratios versus S = 2.

    python benchmarks/bench_backbone.py [--device cpu|cuda] [--frames 2 4 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

import torch

from segvggt.backbone import build_vggt

SMALL = {
    "vggt": {"embed_dim": 64, "patch_size": 14},
    "aggregator": {"depth": 12, "num_heads": 4, "patch_embed": "conv"},
    "camera_head": {"dim_in": 128, "trunk_depth": 2, "num_heads": 4},
    "dpt_common": {"dim_in": 128, "features": 32, "out_channels": [16, 32, 64, 64],
                   "intermediate_layer_idx": [2, 5, 8, 11]},
}


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(model, images: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Median seconds per forward and peak memory of the forward in MiB.

    CUDA: the allocator's peak. CPU: peak RSS of this process minus its RSS before the first forward
    (each S runs in its own process, so earlier runs do not hide later peaks).
    """
    cuda = images.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
    else:
        base = _rss_mib()
    times = []
    with torch.no_grad():
        model(images)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model(images)
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20 - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    return statistics.median(times), peak


def run_one(device: str, S: int, size: int, repeats: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model = build_vggt(SMALL).to(device).eval()
    images = torch.rand(1, S, 3, size, size, device=device)
    return measure(model, images, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--size", type=int, default=112, help="square image side, multiple of 14")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # child process: one S
    args = parser.parse_args()
    if args.one is not None:
        print(*run_one(args.device, args.one, args.size, args.repeats))
        return
    if args.size % 14:
        parser.error("--size must be a multiple of 14")
    device = torch.device(args.device)
    params = sum(p.numel() for p in build_vggt(SMALL).parameters())
    memory = "CUDA allocator peak above model" if device.type == "cuda" else "peak RSS above model"
    print(f"device {device}, {params / 1e6:.2f}M parameters, {args.size}x{args.size} images, memory = {memory}")
    rows = []
    for S in args.frames:
        cmd = [sys.executable, __file__, "--device", args.device, "--size", str(args.size),
               "--repeats", str(args.repeats), "--one", str(S)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"S={S} failed: {result.stderr.strip().splitlines()[-1:]}")
        seconds, peak = map(float, result.stdout.split()[-2:])
        rows.append((S, seconds, peak))
    base_t, base_m = rows[0][1], rows[0][2]
    print(f"{'S':>3} {'time_s':>9} {'peak_MiB':>9} {'time/S0':>8} {'mem/S0':>7}")
    for S, seconds, peak in rows:
        print(f"{S:>3} {seconds:9.4f} {peak:9.1f} {seconds / base_t:8.2f} {peak / max(base_m, 1e-9):7.2f}")


if __name__ == "__main__":
    main()
