"""The VGGT-1B configuration of SegVGGT at 518 px: inference time and peak GPU memory for S = 10, 50, 100.

Random weights (build_segvggt(None, ...): DINOv2 ViT-L patch embed, 24 x (frame + global) blocks, camera,
depth and point heads, Q = 100 queries on every layer, LoRA merged away), images 518 x 392, bf16 autocast
as in VGGT. Time = set_images (backbone) + segment_all (decoder and post-processing), after one warm-up.
Reference: the paper reports 15.9 s and 27.7 GB at 100 frames on an A100 for its pipeline. Needs CUDA:
without it the script says so and exits 0.

    python benchmarks/bench_1b_gpu.py [--frames 10 50 100] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--frames", type=int, nargs="+", default=[10, 50, 100])
    args = parser.parse_args()
    if not torch.cuda.is_available() or not args.device.startswith("cuda"):
        print("bench_1b_gpu needs a CUDA GPU (VGGT-1B at 518 px, up to 100 frames); none available - skipped")
        return 0
    from bench_postprocess import timed

    from segvggt.inference.checkpoints import LoadedModel
    from segvggt.inference.predictor import Predictor
    from segvggt.segmentation.segvggt import build_segvggt

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_segvggt(None, num_queries=100, num_classes=18, lora_rank=0).eval()
    predictor = Predictor(LoadedModel(model, "export", "scannet", 518, "crop", "random"), device)
    print(f"{torch.cuda.get_device_name(device)}; VGGT-1B SegVGGT, {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B "
          f"parameters, bf16 autocast: {predictor.autocast_dtype}")
    print(f"{'S':>5} {'time s':>8} {'peak GB':>8} {'time / paper':>13} {'memory / paper':>15}")
    for S in args.frames:
        images = torch.rand(S, 3, 392, 518, device=device)

        def run() -> None:
            predictor.set_images(images, memory_check=False)
            predictor.segment_all()

        try:
            run()  # warm-up (kernels, allocator)
            predictor._scene = None  # noqa: SLF001
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            seconds = timed(run, device)
            peak = (torch.cuda.max_memory_allocated(device) - base) / 1e9
        except torch.cuda.OutOfMemoryError:
            print(f"{S:>5} out of GPU memory")
            break
        predictor._scene = None  # noqa: SLF001
        paper = "" if S != 100 else f"{seconds / 15.9:>13.2f} {peak / 27.7:>15.2f}"
        print(f"{S:>5} {seconds:>8.2f} {peak:>8.2f} {paper}")
    print("paper (A100, 100 frames): 15.9 s, 27.7 GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
