"""Cost of SegVGGT on top of VGGT, measured in one run (not a test).

Claims checked (goals): forward time of SegVGGT / forward time of the VGGT backbone alone <= 1.10, and
peak memory with the frame-attention-mass computation / without it <= 1.10.

Model: a 24-layer VGGT-like backbone (conv patch embed, small width), Q = 100 object queries, S views at a
small image size. Time = best of --repeats interleaved forward passes under no_grad in eval mode. Peak memory:
torch.cuda.max_memory_allocated on GPU; on CPU the peak of the running sum of the allocations and frees that
torch's profiler records (profile_memory=True), both relative to what is allocated before the call.
Also printed: the FLOP ratio (torch FlopCounterMode), which does not depend on machine load - CPU wall
times on a shared machine are noisy.

    python benchmarks/bench_segvggt.py [--device cuda|cpu] [--frames 4 8 16] [--size 112] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from _measure import peak_memory, sync

from segvggt.segmentation.segvggt import build_segvggt


def small_backbone_config(width: int) -> dict:
    """24 aggregator layers (the 1B depth, so the DPT taps 4, 11, 17, 23 apply) at a small width C.

    Head widths keep VGGT-1B's proportions (C=1024: DPT features 256, out_channels 256/512/1024/1024).
    """
    return {
        "vggt": {"embed_dim": width, "img_size": 224, "patch_size": 14, "enable_track": False},
        "aggregator": {"depth": 24, "num_heads": max(1, width // 64), "patch_embed": "conv"},
        "camera_head": {"dim_in": 2 * width, "trunk_depth": 4, "num_heads": max(1, width // 64)},
        "dpt_common": {"dim_in": 2 * width, "features": width // 4,
                       "out_channels": [width // 4, width // 2, width, width]},
    }


def min_times(fns: list[Callable[[], object]], device: torch.device, repeats: int) -> list[float]:
    """Best-of-`repeats` wall time of each fn, the fns interleaved so that load changes hit all alike."""
    for fn in fns:
        fn()  # warm-up (allocator, kernels)
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def count_flops(fn: Callable[[], object]) -> int:
    """Matmul / conv / attention FLOPs of fn() (torch's FlopCounterMode): a load-independent cost measure."""
    from torch.utils.flop_counter import FlopCounterMode

    # Grad mode on: FlopCounterMode's module tracker fails on parameters under no_grad (torch 2.13).
    with torch.enable_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def train_step(model, images: torch.Tensor, frame_mass: bool) -> Callable[[], None]:
    def step() -> None:
        out = model(images, return_frame_mass=frame_mass)
        loss = out["pred_masks"].float().mean() + out["pred_logits"].float().mean()
        if frame_mass:
            loss = loss + out["frame_attention_mass"].mean()
        loss.backward()
        model.zero_grad(set_to_none=True)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--frames", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--size", type=int, default=112, help="square image side, multiple of 14")
    parser.add_argument("--width", type=int, default=128, help="aggregator width C")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--query-dim", type=int, default=None, help="Dq; default C/4 (as 256 for VGGT-1B)")
    parser.add_argument("--mask-dim", type=int, default=None, help="D; default C/8 (as the default 128 for VGGT-1B)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.size % 14:
        parser.error(f"--size {args.size} is not a multiple of the patch size 14")
    device = torch.device(args.device)

    query_dim = args.query_dim or args.width // 4
    torch.manual_seed(0)
    model = build_segvggt(small_backbone_config(args.width), num_queries=args.queries, num_classes=18,
                          lora_rank=0, mask_dim=args.mask_dim or args.width // 8, query_dim=query_dim,
                          query_heads=max(1, query_dim // 32)).to(device)
    vggt = model.vggt
    print(f"device {device}, C={args.width}, 24 layers, Q={args.queries}, L={model.num_query_layers} query blocks, "
          f"query dim {model.query_dim}, D={model.config.mask_dim}, images {args.size}x{args.size}")
    print(f"{'S':>3} {'vggt ms':>9} {'segvggt ms':>10} {'time ratio':>10} {'aggr ms':>8} {'sem.DPT ms':>10} "
          f"{'decode ms':>9} {'ratio w/o sem.DPT':>17} {'FLOP ratio':>10} "
          f"{'peak fwd no-mass/mass MB':>25} {'ratio':>6} {'peak train no-mass/mass MB':>27} {'ratio':>6}")
    for frames in args.frames:
        images = torch.rand(1, frames, 3, args.size, args.size, device=device)
        model.eval()
        with torch.no_grad():
            encoded = model.encode(images)
            tokens, start = vggt.aggregator(images)
            t_vggt, t_seg, t_agg, t_sem, t_decode = min_times(
                [
                    lambda: vggt(images),
                    lambda: model(images),
                    lambda: vggt.aggregator(images),
                    lambda: model.semantic_head(tokens, images, start, vggt.frames_chunk_size),
                    lambda: model.decode(encoded),
                ],
                device,
                args.repeats,
            )
            flops_ratio = count_flops(lambda: model(images)) / count_flops(lambda: vggt(images))
            del encoded, tokens
            fwd_plain = peak_memory(lambda: model(images, return_frame_mass=False), device)
            fwd_mass = peak_memory(lambda: model(images, return_frame_mass=True), device)
        model.train()
        train_step(model, images, False)()  # warm-up
        train_plain = peak_memory(train_step(model, images, False), device)
        train_mass = peak_memory(train_step(model, images, True), device)
        mb = 2**20
        print(f"{frames:>3} {t_vggt * 1e3:>9.1f} {t_seg * 1e3:>10.1f} {t_seg / t_vggt:>10.3f} {t_agg * 1e3:>8.1f} "
              f"{t_sem * 1e3:>10.1f} {t_decode * 1e3:>9.1f} {(t_seg - t_sem) / t_vggt:>17.3f} {flops_ratio:>10.3f} "
              f"{f'{fwd_plain / mb:.1f} / {fwd_mass / mb:.1f}':>25} {fwd_mass / fwd_plain:>6.3f} "
              f"{f'{train_plain / mb:.1f} / {train_mass / mb:.1f}':>27} {train_mass / train_plain:>6.3f}")


if __name__ == "__main__":
    main()
