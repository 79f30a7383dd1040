"""Post-processing time / forward time of the Predictor, before and after, measured in one run (not a test).

Forward = SegVGGT's forward, encode + decode (what `model(images)` runs). Post-processing = everything
else of `set_images` + `segment_all` (cameras, unprojection, instance scores, selection, pixel
assignment, the point cloud and per-instance points on the host), with all Q = 100 queries kept
(score threshold 0, the worst case); "+ maps" adds every per-view map at the ORIGINAL photo resolution
(depth, confidence, instance ids; photos are PNGs at twice the network size).
Before: the previous segment_all, reproduced here from the same pieces: the decoder's dense
[Q, S, h, w] mask logits, fp32 copies of the kept ones, one boolean-mask gather per array and one
device-to-host copy (and synchronisation) per instance. After: Predictor.segment_all (mask logits from
the query embeddings, a chunk of frames at a time; one gather order; one batch of host copies).
Goal: post-processing <= 0.03 x forward at S = 10 and 100 on the GPU (bench_inference_gpu.py measures it
there); here the CPU proxy of benchmarks/_proxy.py (C = 1024, --depth layers, 112 x 84, one thread).

    python benchmarks/bench_postprocess.py [--frames 4 10] [--depth 24] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _proxy import predictor_for, proxy_model  # noqa: E402
from bench_inference_gpu import Stopwatch, timed  # noqa: E402

from segvggt.inference import postprocess as pp  # noqa: E402
from segvggt.inference.result import to_numpy  # noqa: E402


def write_photos(folder: Path, count: int, height: int = 168, width: int = 224) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def previous_post(scene, decoded: dict, score_threshold: float, mask_threshold: float = 0.5) -> list[np.ndarray]:
    """The previous segment_all after the decoder (see the module docstring); returns its host arrays."""
    pred_logits, pred_masks = decoded["pred_logits"][0].float(), decoded["pred_masks"][0]
    queries, labels, scores = pp.select_instances(pred_logits, pred_masks, score_threshold, mask_threshold)
    logits = pred_masks[queries].float()
    H, W = scene.depth.shape[-2:]
    ids = pp.mask_to_network(pp.assign_mask_pixels(logits, scores, mask_threshold), (H, W))
    ids = torch.where(scene.content, ids, torch.zeros_like(ids))
    ids, kept = pp.drop_empty_instances(ids, int(scores.numel()))
    N, S, valid = int(kept.numel()), ids.shape[0], scene.valid
    flat_points, flat_ids, flat_conf = scene.points[valid], ids[valid], scene.confidence[valid]
    colors = (scene.images[0].permute(0, 2, 3, 1)[valid] * 255).round().clamp(0, 255).to(torch.uint8)
    views = torch.arange(S, device=ids.device)[:, None, None].expand_as(valid)[valid]
    points, conf = pp.split_by_instance([flat_points, flat_conf], flat_ids, N) if N else ([], [])
    out = [to_numpy(flat_points), to_numpy(colors), to_numpy(flat_conf), to_numpy(flat_ids), to_numpy(views)]
    out += [to_numpy(pp.pixel_counts(ids, N))]
    for n in range(N):
        out += [to_numpy(points[n]), to_numpy(conf[n]), np.array([float(scores[kept][n]), int(labels[kept][n])])]
    return out


def measure(predictor, paths: list[Path], repeats: int) -> dict[str, float]:
    device, model = predictor.device, predictor.model
    row: dict[str, list[float]] = {k: [] for k in ("forward", "after", "maps", "before")}
    for _ in range(repeats + 1):  # the first round is a warm-up
        predictor._scene = None  # noqa: SLF001
        watch = Stopwatch(device)
        with watch.watch(model, "encode", "object_query_cache"):
            t_set = timed(lambda: predictor.set_images(paths), device)
            t_seg = timed(lambda: predictor.segment_all(score_threshold=0.0), device)
        scene = predictor._scene  # noqa: SLF001
        result = predictor.segment_all(score_threshold=0.0)

        def maps() -> None:
            for view in range(result.num_views):
                result.depth(view), result.confidence_map(view), result.instance_map(view)

        t_maps = timed(maps, device)
        with torch.no_grad(), predictor._autocast():  # noqa: SLF001
            decoded = {}
            t_decode = timed(lambda: decoded.update(model.decode(scene.encoded)), device)
        t_before = timed(lambda: previous_post(scene, decoded, 0.0), device)
        geometry = t_set - watch.seconds["encode"]
        row["forward"].append(watch.seconds["encode"] + t_decode)
        row["after"].append(geometry + t_seg - watch.seconds["object_query_cache"])
        row["maps"].append(t_maps)
        row["before"].append(geometry + t_before)
    return {k: statistics.median(v[1:]) for k, v in row.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, nargs="+", default=[4, 10])
    parser.add_argument("--depth", type=int, default=24, help="aggregator layers (VGGT-1B: 24)")
    parser.add_argument("--width", type=int, default=1024, help="aggregator width C (VGGT-1B: 1024)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    predictor = predictor_for(proxy_model(args.width, args.depth), args.device, image_size=112)
    print(f"device {predictor.device}; C = {args.width}, {args.depth} layers; network 112x84, photos 224x168; "
          f"Q = 100, all queries kept; {args.threads} thread(s)")
    print(f"{'S':>4} {'forward s':>10} {'post before s':>13} {'post after s':>12} {'+ maps s':>9} "
          f"{'before/fwd':>10} {'after/fwd':>9} {'(+maps)/fwd':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_photos(Path(tmp), max(args.frames))
        for S in args.frames:
            r = measure(predictor, paths[:S], args.repeats)
            f = r["forward"]
            print(f"{S:>4} {f:>10.3f} {r['before']:>13.4f} {r['after']:>12.4f} {r['maps']:>9.4f} "
                  f"{r['before'] / f:>10.4f} {r['after'] / f:>9.4f} {(r['after'] + r['maps']) / f:>11.4f}")
    print("goal: post/forward <= 0.03 (on the GPU); the paper's pipeline: 0.72")


if __name__ == "__main__":
    main()
