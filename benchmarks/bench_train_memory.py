"""Peak memory of one training step of the scannet200 recipe, measured on the CPU, predicted for a GPU.

Not a test. The step is the real one (`training_losses` + `weighted_sum` + backward under bf16 autocast,
as Lightning's bf16-mixed runs it): the frozen teacher's targets, the student SegVGGT with LoRA r32,
click prompts, FADA, the set criterion and the geometry losses. The model has VGGT-1B's width
(C = 1024, 16 heads, the 1B camera head and DPT heads, Q = 100, mask_dim 128) but only L aggregator
layers and a conv patch embedding, and sees S views of 518 px (worst aspect: square), so that a
step fits this machine. The DINOv2 patch embedding is frozen and runs without gradient: it adds only
its weights (counted below) and a transient that ends before the student's activations pile up.

Measured: the peak of allocated bytes during the step (torch's profiler memory events), above what is
allocated before it (the weights). Fitted: activations(S, L) = c + S * (a + b * L) from the grid of
(S, L) below, after removing the step's parameter gradients, which are known exactly. Predicted for the
VGGT-1B recipe (L = 24, DINOv2) at B x S images:

    peak = student weights + teacher weights + gradients + AdamW states (2 x fp32 per trainable
           parameter, allocated at the first optimizer step) + activations(S_total, 24)

(the issue's table measured one step without optimizer states; that number is printed too.)
Run it against another checkout to measure other code: `PYTHONPATH=/path/to/checkout python
benchmarks/bench_train_memory.py`; it uses only entry points that the first landing had as well.

    python benchmarks/bench_train_memory.py [--grid 2x4 2x6 3x4 3x6] [--height 518] [--no-point-head]

On a GPU, `--device cuda --images 24 48` instead measures the VGGT-1B recipe itself (24 layers, DINOv2,
random weights): peak allocated memory with the AdamW states and the median time of a few steps.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from _measure import peak_memory  # noqa: E402

GB = 1e9
WIDTH = 1024
INSTANCES_PER_SCENE = 40


def backbone(layers: int, point_head: bool, dinov2: bool = False) -> dict | None:
    """The VGGT-1B configuration with `layers` aggregator layers (None with dinov2 at 24 = VGGT-1B)."""
    if dinov2 and layers == 24:
        return None
    taps = [round(i * (layers - 1) / 23) for i in (4, 11, 17, 23)]
    cfg = {
        "vggt": {"embed_dim": WIDTH, "img_size": 518, "patch_size": 14, "enable_point": point_head},
        "aggregator": {"depth": layers, "num_heads": 16, "patch_embed": "dinov2_vitl14_reg" if dinov2 else "conv"},
        "dpt_common": {"intermediate_layer_idx": taps},
    }
    return cfg


def recipe(point_head: bool, layers: int, dinov2: bool = False):
    """(ExperimentConfig, ModelConfig) of configs/scannet200.yaml with the backbone above, no pretrained file."""
    from _common import experiment_config

    cfg, _ = experiment_config("scannet200", ["pretrained=null", "geometry_supervision=gt"])
    return cfg, dataclasses.replace(cfg.model, backbone=backbone(layers, point_head, dinov2))


def make_teacher(model):
    """The training code's teacher (bf16 matrices for mixed precision) or, for older checkouts, its copy."""
    try:
        from segvggt.training.teacher import low_precision_teacher
        from segvggt.training.teacher import make_teacher as make
    except ImportError:  # the first landing: an fp32 deep copy with every head
        return copy.deepcopy(model.vggt).eval().requires_grad_(False)
    return low_precision_teacher(make(model.vggt))


def random_batch(S: int, H: int, W: int, num_classes: int, seed: int = 0):
    from segvggt.types import InstanceTargets, SceneBatch

    g = torch.Generator().manual_seed(seed)
    N = INSTANCES_PER_SCENE
    # blocky instance ids (8 x 8 px cells) so that every instance covers whole cells in several views
    cells = torch.randint(0, N + 1, (1, S, H // 8 + 1, W // 8 + 1), generator=g)
    ids = cells.repeat_interleave(8, 2).repeat_interleave(8, 3)[:, :, :H, :W].contiguous()
    small = ids[0, :, ::2, ::2]
    present = [i for i in range(1, N + 1) if bool((small == i).any())]
    masks = torch.stack([(small == i).float() for i in present])
    pixels = masks.sum((-1, -2))
    targets = InstanceTargets(torch.randint(0, num_classes, (len(present),), generator=g), masks,
                              pixels / pixels.sum(1, keepdim=True), torch.tensor(present))  # fmt: skip
    cams = torch.eye(4)[:3].expand(1, S, 3, 4).clone()
    cams[..., 0, 3] = torch.linspace(0, 1, S)
    K = torch.tensor([[0.8 * W, 0.0, W / 2], [0.0, 0.8 * W, H / 2], [0.0, 0.0, 1.0]]).expand(1, S, 3, 3).clone()
    return SceneBatch(torch.rand(1, S, 3, H, W, generator=g), 1 + torch.rand(1, S, H, W, generator=g), cams, K, ids,
                      [targets], ["bench"], [[str(i) for i in range(S)]])  # fmt: skip


def measure(S: int, L: int, H: int, W: int, point_head: bool) -> tuple[float, float, float]:
    """(peak bytes of the step above the weights, gradient bytes of this model, seconds of one step)."""
    from segvggt.losses import SetCriterion
    from segvggt.segmentation.segvggt import SegVGGT
    from segvggt.training.objective import training_losses

    cfg, model_cfg = recipe(point_head, L)
    torch.manual_seed(0)
    model = SegVGGT(model_cfg).train()
    if model.vggt.point_head is not None:
        model.vggt.point_head.requires_grad_(False)  # as SegVGGTModule does
    teacher = make_teacher(model)
    criterion = SetCriterion(cfg.loss)
    batch = random_batch(S, H, W, cfg.model.num_classes)

    def step() -> None:
        generator = torch.Generator().manual_seed(0)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            losses = training_losses(model, batch, criterion, cfg.loss, cfg.prompts, "teacher", teacher=teacher,
                                     generator=generator)  # fmt: skip
            total = criterion.weighted_sum(losses)
        total.backward()

    start = time.perf_counter()
    peak = peak_memory(step, torch.device("cpu"))
    seconds = time.perf_counter() - start
    grads = sum(p.numel() * 4 for p in model.parameters() if p.requires_grad)
    return float(peak), float(grads), seconds


def fixed_bytes(point_head: bool) -> dict[str, float]:
    """Weights, gradients and AdamW states of the VGGT-1B recipe (built on the meta device)."""
    from segvggt.segmentation.segvggt import SegVGGT

    _, model_cfg = recipe(point_head, 24, dinov2=True)
    with torch.device("meta"):
        model = SegVGGT(model_cfg)
        if model.vggt.point_head is not None:
            model.vggt.point_head.requires_grad_(False)
        teacher = make_teacher(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "student weights": sum(p.numel() * p.element_size() for p in model.parameters()),
        "teacher weights": sum(p.numel() * p.element_size() for p in teacher.parameters()),
        "gradients": 4 * trainable,
        "AdamW states": 8 * trainable,
        "trainable parameters": trainable,
    }


def measure_gpu(images: int, H: int, W: int, steps: int = 3) -> tuple[float, float]:
    """(peak allocated bytes including optimizer states, median seconds per step) of the full recipe
    on CUDA with B x 24 views (images = 24 B), as SegVGGTModule trains it under bf16-mixed."""
    from segvggt.losses import SetCriterion
    from segvggt.segmentation.segvggt import SegVGGT
    from segvggt.training.objective import training_losses
    from segvggt.training.optim import build_optimizer, fused_is_compatible

    device = torch.device("cuda")
    S = 24
    B = max(1, images // S)
    cfg, model_cfg = recipe(True, 24, dinov2=True)
    torch.manual_seed(0)
    model = SegVGGT(model_cfg).train()
    model.vggt.point_head.requires_grad_(False)
    teacher = make_teacher(model).to(device)
    model.to(device)
    criterion = SetCriterion(cfg.loss)
    optimizer, _ = build_optimizer(model, cfg.optim, 1000, fused=fused_is_compatible(cfg.optim.grad_clip, False))
    scenes = [random_batch(S, H, W, cfg.model.num_classes, seed=b) for b in range(B)]
    from segvggt.types import SceneBatch

    batch = SceneBatch(
        torch.cat([s.images for s in scenes]), torch.cat([s.depth for s in scenes]),
        torch.cat([s.cam_from_world for s in scenes]), torch.cat([s.intrinsics for s in scenes]),
        torch.cat([s.instance_ids for s in scenes]), [s.targets[0] for s in scenes], ["bench"] * B,
        [s.frame_names[0] for s in scenes],
    ).to(device)  # fmt: skip
    times = []
    torch.cuda.reset_peak_memory_stats(device)
    for i in range(steps):
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            losses = training_losses(model, batch, criterion, cfg.loss, cfg.prompts, "teacher", teacher=teacher,
                                     generator=torch.Generator().manual_seed(i))  # fmt: skip
            total = criterion.weighted_sum(losses)
        total.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], cfg.optim.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device)
    del model, teacher, optimizer, batch
    torch.cuda.empty_cache()
    return float(peak), float(np.median(times[1:] if len(times) > 1 else times))


def fit(rows: list[tuple[int, int, float]]) -> tuple[np.ndarray, float]:
    """Least squares of activations = c + S * (a + b * L) -> ([c, a, b], max relative residual)."""
    A = np.array([[1.0, S, S * L] for S, L, _ in rows])
    y = np.array([act for _, _, act in rows])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    residual = float(np.max(np.abs(A @ coef - y) / y))
    return coef, residual


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", nargs="+", default=["2x4", "2x6", "3x4", "3x6"], help="SxL pairs to measure")
    parser.add_argument("--height", type=int, default=518, help="image height (width 518); 518 = worst aspect")
    parser.add_argument("--no-point-head", action="store_true", help="build VGGT without its point head")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (fit and predict) or cuda (measure the 1B recipe)")
    parser.add_argument("--images", type=int, nargs="+", default=[24, 48], help="with --device cuda: B x 24 views")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    H, W = args.height, 518
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            print("bench_train_memory --device cuda: no CUDA GPU here - skipped")
            return 0
        print(f"{torch.cuda.get_device_name()}: one training step of the VGGT-1B scannet200 recipe, {W} x {H} px, "
              f"bf16-mixed, AdamW states included")  # fmt: skip
        for images in args.images:
            try:
                peak, seconds = measure_gpu(images, H, W)
            except torch.cuda.OutOfMemoryError:
                print(f"GPU_CHECK train_step_{images}_images out of memory")
                torch.cuda.empty_cache()
                continue
            print(f"GPU_CHECK train_step_{images}_images peak {peak / GB:.1f} GB, {seconds:.2f} s per step")
        return 0
    point_head = not args.no_point_head
    print(f"training step of the scannet200 recipe at C = {WIDTH}, {W} x {H} px, bf16 autocast on the CPU, "
          f"point head {'on' if point_head else 'off'}; torch {torch.__version__}")  # fmt: skip
    print(f"{'S':>3} {'L':>3} {'peak GB':>8} {'grads GB':>9} {'activations GB':>15} {'step s':>7}")
    rows = []
    for item in args.grid:
        S, L = (int(v) for v in item.lower().split("x"))
        peak, grads, seconds = measure(S, L, H, W, point_head)
        rows.append((S, L, peak - grads))
        print(f"{S:>3} {L:>3} {peak / GB:>8.3f} {grads / GB:>9.3f} {(peak - grads) / GB:>15.3f} {seconds:>7.1f}", flush=True)
    (c, a, b), residual = fit(rows)
    print(f"fit: activations = {c / GB:.3f} + S x ({a / GB:.4f} + {b / GB:.5f} x L) GB "
          f"(max residual {100 * residual:.1f} %)")  # fmt: skip
    fixed = fixed_bytes(point_head)
    print("VGGT-1B recipe, analytic: " + ", ".join(
        f"{k} {v / GB:.2f} GB" for k, v in fixed.items() if k != "trainable parameters"
    ) + f" ({fixed['trainable parameters'] / 1e6:.0f} M trainable)")  # fmt: skip
    for images in (24, 48):
        activations = c + images * (a + b * 24)
        step = fixed["student weights"] + fixed["teacher weights"] + fixed["gradients"] + activations
        print(f"predicted peak GB at {images} images: {(step + fixed['AdamW states']) / GB:.1f} "
              f"(one step without optimizer states: {step / GB:.1f}; activations {activations / GB:.1f}, "
              f"{activations / images / GB:.3f} per image)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
