"""A click from the cached encoding, before and after the object-query cache, measured in one run (not a test).

Before: `decode(encoded, prompts, prompts_only=True)` ran the Q = 100 object queries through every query
block with the R prompt queries. After: `object_query_cache(encoded)` runs them once per encoding and a
click runs only its R prompt queries (SegVGGT.decode_clicks, the Predictor's ClickDecoder; on CUDA
replayed as one CUDA graph). Per click: aten operators dispatched (non-view ones ~ kernel launches on a
GPU; counted with a TorchDispatchMode), FLOPs (torch's FlopCounterMode: load-independent) and time
(median of --repeats, one thread), next to the full forward `model(images, prompts)`.

Model: the proxy of benchmarks/_proxy.py (C = 1024, Q = 100, Dq = 256, --depth layers, every layer a
query layer), S views of 112 x 84, one prompt of two clicks.

    python benchmarks/bench_prompt_cache.py [--frames 4 16] [--depth 24] [--repeats 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _measure import count_ops  # noqa: E402
from _proxy import predictor_for, proxy_model  # noqa: E402
from bench_inference_gpu import timed  # noqa: E402
from bench_segvggt import count_flops  # noqa: E402

from segvggt.segmentation.prompts import parse_prompts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--depth", type=int, default=24, help="aggregator (and query) layers (VGGT-1B: 24)")
    parser.add_argument("--width", type=int, default=1024, help="aggregator width C (VGGT-1B: 1024)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    predictor = predictor_for(proxy_model(args.width, args.depth), args.device)
    device, model = predictor.device, predictor.model
    print(f"device {device}; C = {args.width}, {args.depth} layers (L = {model.num_query_layers} query blocks), "
          f"Q = {model.config.num_queries}, network 112x84, one prompt of two clicks, {args.threads} thread(s)")
    print(f"{'S':>4} {'path':>22} {'ops':>6} {'non-view':>8} {'GFLOP':>8} {'ms':>8} {'x full fwd':>10}")
    for S in args.frames:
        torch.manual_seed(S)
        images = torch.rand(S, 3, 84, 112, device=device)
        prompt = [(0, 30.0, 40.0, True), (S - 1, 70.0, 20.0, False)]
        predictor.set_images(images, memory_check=False)
        scene = predictor._scene  # noqa: SLF001
        decoder = predictor._click_decoder(scene)  # noqa: SLF001
        clicks = parse_prompts([[prompt]], 1, S, (84, 112), device)

        def full() -> None:
            with torch.no_grad(), predictor._autocast():  # noqa: SLF001
                model(images[None], [[prompt]])

        def before() -> None:
            with torch.no_grad(), predictor._autocast():  # noqa: SLF001
                model.decode(scene.encoded, [[prompt]], prompts_only=True)

        paths = [("full forward", full), ("click before (no cache)", before),
                 ("click after (cache)", lambda: decoder.eager(clicks))]  # fmt: skip
        if decoder.use_graphs:
            paths.append(("click after + CUDA graph", lambda: decoder(clicks)))
        results = []
        for name, fn in paths:
            fn()  # warm-up
            ops, launches = count_ops(fn)
            flops = count_flops(fn)
            seconds = statistics.median(timed(fn, device) for _ in range(args.repeats))
            results.append((name, ops, launches, flops, seconds))
        for name, ops, launches, flops, seconds in results:
            print(f"{S:>4} {name:>22} {ops:>6} {launches:>8} {flops / 1e9:>8.3f} {seconds * 1e3:>8.2f} "
                  f"{seconds / results[0][4]:>10.4f}")
        b, a = results[1], results[2]
        print(f"     after / before: non-view ops {a[2] / b[2]:.3f}, FLOPs {a[3] / b[3]:.4f}, time {a[4] / b[4]:.3f}")


if __name__ == "__main__":
    main()
