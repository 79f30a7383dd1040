"""Memory against the number of frames S, measured in one run (not a test): what inference keeps per
layer, the measured peak and the Predictor's estimate (segvggt.inference.memory), on a CPU proxy.

1. Bytes kept per aggregator layer per frame. Before: the official aggregator returns all L layers as
   [S, P, 2C] fp32 (8 C bytes per token); the heads read 4 of them. After: encode keeps per query layer
   the cross-attention keys/values [S*P', 2 Dq] in the compute dtype (the query blocks and prompts read
   them) and, until the heads ran, the layers the heads read. Measured from the tensors encode returns
   and the aggregator's own output list.
2. Peak memory of set_images + segment_all (torch's profiler: the running sum of the allocations and
   frees on CPU; torch.cuda.max_memory_allocated on GPU), above the weights, against the estimate
   without its safety factor, and the phases of the estimate.
3. The estimate for VGGT-1B at 392 x 518 in the Predictor's bf16 mode (built on the meta device, so
   nothing is allocated): a prediction of the GPU peaks, not a measurement.

Model: the proxy of benchmarks/_proxy.py (C = 1024, VGGT-1B's head widths, --depth layers), 112 x 84.

    python benchmarks/bench_frames_scaling.py [--frames 2 4 8] [--depth 4] [--precision fp32|bf16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _measure import peak_memory  # noqa: E402
from _proxy import predictor_for, proxy_model  # noqa: E402

from segvggt.inference.memory import SAFETY, estimate_memory  # noqa: E402

MIB = float(1 << 20)
GIB = float(1 << 30)


def kept_bytes_per_layer_per_frame(model, images: torch.Tensor, autocast) -> tuple[float, float, float]:
    """-> (official: every layer [S, P, 2C] fp32, after: keys/values of the query layers, after: the
    transient head taps), in bytes per aggregator layer per frame."""
    S = images.shape[1]
    depth = model.vggt.aggregator.depth
    with torch.no_grad(), autocast():
        every, _ = model.vggt.aggregator(images[:, :1])  # one frame is enough for the official layout
        official = sum(t.numel() * t.element_size() for t in every) / depth
        encoded = model.encode(images)
        kv = sum(t.numel() * t.element_size() for t in encoded.token_kv) / depth / S
        keep = model.vggt.head_layers() | set(model.semantic_head.cfg.intermediate_layer_idx)
        taps = len(keep) * every[0].numel() * every[0].element_size() / depth
    return official, kv, taps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=4, help="aggregator layers of the proxy (VGGT-1B: 24)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--frames-chunk", type=int, default=None, help="DPT frames per chunk (default: the model's)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = proxy_model(args.width, args.depth)
    if args.frames_chunk:
        model.vggt.frames_chunk_size = args.frames_chunk
    predictor = predictor_for(model, args.device, args.precision)
    device = predictor.device
    a = 2 if predictor.autocast_dtype is not None else 4
    print(f"device {device}; proxy C = {args.width}, {args.depth} layers, Q = 100, network 112x84, {args.precision}")

    layered = predictor_for(proxy_model(args.width, 24), device, args.precision)
    images = torch.rand(1, 2, 3, 84, 112, device=device)
    official, kv, taps = kept_bytes_per_layer_per_frame(layered.model, images, layered._autocast)  # noqa: SLF001
    del layered
    P = 1 + 4 + (84 // 14) * (112 // 14)
    print(f"kept per aggregator layer per frame, 24 layers, {args.precision} (P = {P} tokens): official "
          f"{official / 1024:.1f} KiB (2C fp32 per token, all layers); now {kv / 1024:.1f} KiB of keys/values "
          f"({official / kv:.1f}x less) + {taps / 1024:.1f} KiB of head taps until the heads ran "
          f"({official / (kv + taps):.1f}x less at that point)")
    print(f"{'S':>4} {'measured MiB':>13} {'estimate MiB':>13} {'est/meas':>9} | {'encode':>8} {'est.':>8} | "
          f"{'aggregator':>10} {'heads':>8} {'post':>8} (estimate phases above the weights, MiB)")
    for S in args.frames:
        x = torch.rand(S, 3, 84, 112, device=device)

        def run() -> None:
            predictor.set_images(x, memory_check=False)
            predictor.segment_all(score_threshold=0.0)

        run()  # warm-up
        predictor._scene = None  # noqa: SLF001 - measure from an empty cache
        measured = peak_memory(run, device)
        predictor._scene = None  # noqa: SLF001

        def encode() -> None:
            with torch.no_grad(), predictor._autocast():  # noqa: SLF001
                predictor.model.encode(x[None])

        encoded = peak_memory(encode, device)
        e = estimate_memory(predictor.model, S, 84, 112, a)
        base = e.parameters
        phases = [e.aggregator_phase - base, e.heads_phase - base, e.post_phase - base]
        print(f"{S:>4} {measured / MIB:>13.1f} {max(phases) / MIB:>13.1f} {max(phases) / measured:>9.2f} | "
              f"{encoded / MIB:>8.1f} {max(phases[:2]) / MIB:>8.1f} | "
              f"{phases[0] / MIB:>10.1f} {phases[1] / MIB:>8.1f} {phases[2] / MIB:>8.1f}")

    from segvggt.inference.precision import prepare_bf16
    from segvggt.segmentation.segvggt import build_segvggt

    with torch.device("meta"):
        big = build_segvggt(None, num_queries=100, num_classes=18, lora_rank=0)
    prepare_bf16(big)
    print(f"VGGT-1B SegVGGT, 392x518, bf16 weights + autocast (estimate; x{SAFETY} is the check's margin):")
    print(f"{'S':>4} {'chunk':>5} {'peak GiB':>9} {'checked GiB':>11} | {'params':>6} {'taps':>6} {'kv':>6} "
          f"{'layer':>6} {'DPT':>6} {'feat':>6} {'post':>6}")
    for chunk in (8, 2):
        big.vggt.frames_chunk_size = chunk
        for S in (10, 50, 100, 200, 500):
            e = estimate_memory(big, S, 392, 518, 2)
            raw = max(e.aggregator_phase, e.heads_phase, e.post_phase)
            parts = (e.parameters, e.taps, e.token_kv, e.layer, e.heads, e.instance_features, e.post_processing)
            print(f"{S:>4} {chunk:>5} {raw / GIB:>9.1f} {e.peak / GIB:>11.1f} | " + " ".join(f"{p / GIB:>6.2f}" for p in parts))


if __name__ == "__main__":
    main()
