"""Post-processing time / model forward time of the Predictor, measured in one run (not a test).

Claim (goal): post-processing <= 0.05 x the forward pass (the paper's own pipeline spends 0.72).
Forward = backbone encode (set_images, without preprocessing) + the query decoder. Post-processing =
everything after that for a full answer: instance scores and selection, per-pixel assignment, unprojection,
per-instance point grouping (segment_all) AND every per-view map at the original photo resolution (depth,
confidence, instance ids). Worst case: score_threshold 0 keeps all Q = 100 queries. Photos are synthetic
PNGs at twice the network size, so resampling to the original size is included.

Model: 24 aggregator layers (VGGT-1B's depth, so the DPT taps sit where they do there), width 64, conv patch embed, Q = 100, 112 x 84 network images, random weights.

    python benchmarks/bench_postprocess.py [--device cpu|cuda] [--frames 8 16 32] [--repeats 3] [--width 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from segvggt.inference.checkpoints import LoadedModel  # noqa: E402
from _measure import sync  # noqa: E402

from segvggt.inference.predictor import Predictor  # noqa: E402
from segvggt.segmentation.segvggt import build_segvggt  # noqa: E402

IMAGE_SIZE = 112


def small_config(width: int = 64, depth: int = 24) -> dict:
    taps = [1, depth // 2 - 1, depth // 2 + 1, depth - 1]
    return {
        "vggt": {"embed_dim": width, "img_size": IMAGE_SIZE, "patch_size": 14, "enable_track": False},
        "aggregator": {"depth": depth, "num_heads": max(1, width // 32), "patch_embed": "conv"},
        "camera_head": {"dim_in": 2 * width, "trunk_depth": 2, "num_heads": max(1, width // 32)},
        "dpt_common": {"dim_in": 2 * width, "features": 32, "out_channels": [16, 32, 64, 64],
                       "intermediate_layer_idx": taps},
    }


def small_predictor(device: str | None, width: int = 64) -> Predictor:
    """The benchmark model; `width` scales the aggregator (the fixed per-layer overheads of a tiny model
    inflate every ratio against its forward; at VGGT-1B's width 1024 the forward dominates)."""
    torch.manual_seed(0)
    model = build_segvggt(small_config(width), num_queries=100, num_classes=18, lora_rank=0, mask_dim=32).eval()
    return Predictor(LoadedModel(model, "export", "scannet", IMAGE_SIZE, "crop", "random"), device)


def write_photos(folder: Path, count: int, height: int = 168, width: int = 224) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def timed(fn, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start



def measure(predictor: Predictor, paths: list[Path], repeats: int) -> tuple[float, float, int]:
    device = predictor.device
    x, records, names = predictor.preprocess(paths)
    images = x.to(device)[None]

    def forward() -> None:
        with torch.no_grad(), predictor._autocast():  # noqa: SLF001
            predictor.model.decode(predictor.model.encode(images))

    def post() -> None:
        result = predictor.segment_all(score_threshold=0.0)
        for view in range(result.num_views):
            result.depth(view), result.confidence_map(view), result.instance_map(view)

    predictor.set_images(paths)  # fills the cache (encode + geometry) used by segment_all
    with torch.no_grad():
        predictor._scene.decoded = predictor.model.decode(predictor._scene.encoded)  # noqa: SLF001
    forward(), post()  # warm-up
    fwd = statistics.median(timed(forward, device) for _ in range(repeats))
    pst = statistics.median(timed(post, device) for _ in range(repeats))
    return fwd, pst, len(predictor.segment_all(score_threshold=0.0).instances)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None)
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=64, help="aggregator width C (VGGT-1B: 1024)")
    args = parser.parse_args()
    predictor = small_predictor(args.device, args.width)
    print(f"device {predictor.device}; C = {args.width}; network {IMAGE_SIZE}x84, photos 224x168; "
          "Q = 100, all queries kept")
    print(f"{'S':>4} {'forward s':>10} {'post s':>8} {'instances':>9} {'post/forward':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_photos(Path(tmp), max(args.frames))
        for S in args.frames:
            fwd, pst, n = measure(predictor, paths[:S], args.repeats)
            print(f"{S:>4} {fwd:>10.3f} {pst:>8.3f} {n:>9} {pst / fwd:>13.3f}")
    print("goal: post/forward <= 0.05 (the paper's pipeline: 0.72)")


if __name__ == "__main__":
    main()
