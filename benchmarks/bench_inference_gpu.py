"""Inference at scale on whatever CUDA GPU this machine has (not a test): VGGT-1B with random weights,
392 x 518 views, Q = 100 queries, the Predictor in its default precision (bf16 weights and autocast).

Per S (--frames), in one run, one table:
  VGGT s        VGGT-1B forward alone (`model.vggt(images)`, camera + depth + point heads)
  SegVGGT s     SegVGGT forward = encode + decode (the work of `model(images)`, timed in its two parts)
  click ms      one click answered from the cache (object-query cache + CUDA graph; decode only),
                then the same eagerly and without the cache (the old prompts-only decode)
  set_images s  Predictor.set_images (encode + cameras, unprojection), segment_all s (Q = 100 queries,
                score threshold 0.5), e2e s = both
  post/fwd      post-processing (set_images + segment_all minus the model calls in them) / SegVGGT s
  peak GB       torch.cuda.max_memory_allocated with the weights: VGGT forward / set_images + segment_all,
                and the Predictor's estimate (segvggt/inference/memory.py, without its safety margin)
Times: median of --repeats runs for S <= 50, one run above (after a warm-up at the smallest S), so that
S = 10 ... 500 take about three minutes on an H100. Stops cleanly at the first out-of-memory error.
Without CUDA it prints "no CUDA GPU: skipped" and exits 0.

--cpu-proxy: the same columns on the CPU with the proxy of benchmarks/_proxy.py (C = 1024, VGGT-1B's
head widths, --depth layers, 112 x 84 views, fp32); peak = the profiler's running allocation sum.

    python benchmarks/bench_inference_gpu.py --frames 10 50 100 200 500
    python benchmarks/bench_inference_gpu.py --cpu-proxy --frames 2 8 --depth 24 --repeats 1
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _measure import peak_memory, sync  # noqa: E402

GB = 1e9


def clicks_for(height: int, width: int) -> list[tuple[int, float, float, bool]]:
    """One prompt: a positive click on view 0 and a negative one on view 1 (network pixels)."""
    return [(0, 0.4 * width, 0.4 * height, True), (1, 0.2 * width, 0.15 * height, False)]


class Stopwatch:
    """Wraps methods of an object so that every call is timed (synchronised on `device`)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def watch(self, obj, *names: str):
        originals = {name: getattr(obj, name) for name in names}

        def timed(name, fn):
            def run(*args, **kwargs):
                sync(self.device)
                start = time.perf_counter()
                out = fn(*args, **kwargs)
                sync(self.device)
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
                return out

            return run

        for name, fn in originals.items():
            setattr(obj, name, timed(name, fn))
        try:
            yield self
        finally:
            for name in names:
                delattr(obj, name)  # back to the class's method


def timed(fn, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def timed_with_peak(fn, device: torch.device) -> tuple[float, int]:
    """(seconds, peak bytes allocated with the weights; 0 off CUDA, see cpu_peak) of one fn() call."""
    if device.type != "cuda":
        return timed(fn, device), 0
    sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    return timed(fn, device), torch.cuda.max_memory_allocated(device)


def cpu_peak(fn, model) -> int:
    """The profiler's peak of the running allocation sum during fn(), plus the weights (CPU)."""
    return peak_memory(fn, torch.device("cpu")) + sum(p.numel() * p.element_size() for p in model.parameters())


def measure(predictor, images: torch.Tensor, repeats: int, clicks: int) -> dict[str, float]:
    """One row of the table (see the module docstring)."""
    from segvggt.inference.memory import estimate_memory
    from segvggt.segmentation.prompts import parse_prompts

    device, model = predictor.device, predictor.model
    S, _, H, W = images.shape
    batch = images[None]
    row: dict[str, float] = {}

    def vggt() -> None:
        with torch.no_grad(), predictor._autocast():  # noqa: SLF001
            model.vggt(batch)

    def reset() -> None:
        predictor._scene = None  # noqa: SLF001
        if device.type == "cuda":
            torch.cuda.empty_cache()

    def predictor_run() -> None:
        predictor.set_images(images, memory_check=False)
        predictor.segment_all()

    runs = [timed_with_peak(vggt, device) for _ in range(repeats)]
    row["vggt"], row["peak_vggt"] = statistics.median(t for t, _ in runs), max(p for _, p in runs) / GB
    parts: dict[str, list[float]] = {"set_images": [], "segment_all": [], "encode": [], "cache": [], "peak": []}
    for _ in range(repeats):
        reset()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        watch = Stopwatch(device)
        with watch.watch(model, "encode", "object_query_cache"):
            parts["set_images"].append(timed(lambda: predictor.set_images(images, memory_check=False), device))
            parts["segment_all"].append(timed(predictor.segment_all, device))
        parts["encode"].append(watch.seconds["encode"])
        parts["cache"].append(watch.seconds["object_query_cache"])
        parts["peak"].append(torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0)
    for name in ("set_images", "segment_all", "encode", "cache"):
        row[name] = statistics.median(parts[name])
    row["peak_seg"] = max(parts["peak"]) / GB
    scene = predictor._scene  # noqa: SLF001

    def decode() -> None:
        with torch.no_grad(), predictor._autocast():  # noqa: SLF001
            model.decode(scene.encoded)

    row["decode"] = statistics.median(timed(decode, device) for _ in range(repeats))
    row["segvggt"] = row["encode"] + row["decode"]
    row["post"] = row["set_images"] - row["encode"] + row["segment_all"] - row["cache"]

    prompt = clicks_for(H, W)
    network = parse_prompts([[prompt]], 1, S, (H, W), device)
    decoder = predictor._click_decoder(scene)  # noqa: SLF001

    def uncached() -> None:
        with torch.no_grad(), predictor._autocast():  # noqa: SLF001
            model.decode(scene.encoded, [[prompt]], prompts_only=True)

    for name, fn in (("click", lambda: decoder(network)), ("click_eager", lambda: decoder.eager(network)),
                     ("click_uncached", uncached), ("segment", lambda: predictor.segment(prompt))):  # fmt: skip
        fn()  # warm-up (captures the graph)
        row[name] = statistics.median(timed(fn, device) for _ in range(clicks)) * 1e3
    row["graphs"] = float(decoder.use_graphs)
    if device.type != "cuda":
        reset()
        row["peak_vggt"], row["peak_seg"] = cpu_peak(vggt, model) / GB, cpu_peak(predictor_run, model) / GB
    e = estimate_memory(model, S, H, W, 2 if predictor.autocast_dtype is not None else 4)
    row["estimate"] = max(e.aggregator_phase, e.heads_phase, e.post_phase) / GB
    return row


def build(args) -> tuple[object, tuple[int, int], str]:
    from _proxy import predictor_for, proxy_model

    from segvggt.segmentation.segvggt import build_segvggt

    if args.cpu_proxy:
        model = proxy_model(1024, args.depth)
        return predictor_for(model, "cpu", args.precision), (84, 112), f"CPU proxy, C = 1024, {args.depth} layers"
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = build_segvggt(None, num_queries=100, num_classes=18, lora_rank=0).eval()
    predictor = predictor_for(model, "cuda", args.precision)
    return predictor, (392, 518), f"{torch.cuda.get_device_name()}, VGGT-1B (random weights)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, nargs="+", default=[10, 50, 100, 200, 500])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per S (S <= 50; one run above)")
    parser.add_argument("--clicks", type=int, default=20, help="timed clicks per S")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--cpu-proxy", action="store_true", help="reduced-size proxy on the CPU")
    parser.add_argument("--depth", type=int, default=24, help="aggregator layers of the CPU proxy")
    args = parser.parse_args()
    if not args.cpu_proxy and not torch.cuda.is_available():
        print("bench_inference_gpu: no CUDA GPU: skipped (run it on a GPU machine, or pass --cpu-proxy)")
        return 0
    t0 = time.perf_counter()
    predictor, (H, W), what = build(args)
    device = predictor.device
    params = sum(p.numel() for p in predictor.model.parameters()) / 1e9
    print(f"{what}: {params:.2f} B parameters, {W}x{H} views, Q = 100, precision {args.precision} "
          f"(autocast {predictor.autocast_dtype}), torch {torch.__version__}")
    warm = torch.rand(min(args.frames), 3, H, W, device=device)
    measure(predictor, warm, 1, 2)  # warm-up: kernels, allocator, graph capture
    print(f"{'S':>4} {'VGGT s':>7} {'SegVGGT s':>9} {'click ms':>8} {'eager ms':>8} {'uncached ms':>11} "
          f"{'set_images s':>12} {'segment_all s':>13} {'e2e s':>6} {'Seg/VGGT':>8} {'post/fwd':>8} "
          f"{'peak GB VGGT / SegVGGT':>22} {'est. GB':>7}")
    for S in args.frames:
        predictor._scene = None  # noqa: SLF001
        images = torch.rand(S, 3, H, W, device=device)
        repeats = args.repeats if S <= 50 else 1
        try:
            r = measure(predictor, images, repeats, args.clicks)
        except torch.cuda.OutOfMemoryError:
            predictor._scene = None  # noqa: SLF001
            torch.cuda.empty_cache()
            print(f"{S:>4} out of GPU memory ({torch.cuda.get_device_name()}); larger S skipped")
            break
        peaks = f"{r['peak_vggt']:.1f} / {r['peak_seg']:.1f}"
        print(f"{S:>4} {r['vggt']:>7.3f} {r['segvggt']:>9.3f} {r['click']:>8.2f} {r['click_eager']:>8.2f} "
              f"{r['click_uncached']:>11.2f} {r['set_images']:>12.3f} {r['segment_all']:>13.3f} "
              f"{r['set_images'] + r['segment_all']:>6.2f} {r['segvggt'] / r['vggt']:>8.3f} "
              f"{r['post'] / r['segvggt']:>8.3f} {peaks:>22} {r['estimate']:>7.1f}")
        print(f"GPU_CHECK inference S={S} e2e_s={r['set_images'] + r['segment_all']:.3f} "
              f"peak_gb={r['peak_seg']:.2f} click_ms={r['click']:.2f} predictor_segment_ms={r['segment']:.1f} "
              f"cuda_graphs={bool(r['graphs'])} post_s={r['post']:.3f}")
        predictor._scene = None  # noqa: SLF001
        del images
    print(f"goals: S = 100 e2e <= 2.5 s and peak <= 12 GB; S = 500 fits 80 GB; Seg/VGGT <= 1.05; post/fwd <= 0.03; "
          f"click <= 5 ms ({time.perf_counter() - t0:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
