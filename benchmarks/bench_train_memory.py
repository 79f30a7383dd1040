"""Peak memory of one training step of the scannet200 recipe, measured on the CPU, predicted for a GPU.

Not a test. The step is the real one (`training_losses` + `weighted_sum` + backward under bf16 autocast,
as Lightning's bf16-mixed runs it): the frozen teacher's targets, the student SegVGGT with LoRA r32,
click prompts, FADA, the set criterion and the geometry losses. The model has VGGT-1B's width
(C = 1024, 16 heads, the 1B camera head and DPT heads, Q = 100, mask_dim 128) but only L aggregator
layers and a conv patch embedding, and sees S views of 518 px (worst aspect: square), so that a
step fits this machine. The DINOv2 patch embedding is frozen and runs without gradient: it adds only
its weights (counted below) and a transient that ends before the student's activations pile up.

The step's phases are measured apart (allocated bytes from torch's profiler memory events), because
their peaks do not add up the same way at small and at full size:
    T  the teacher's forward (transient: nothing of it stays but its targets),
    F  the student's forward: its peak, and what stays allocated for the backward pass,
    B  the backward pass above F and all parameter gradients (allocated beforehand here; the full
       model's are known exactly and added back).
Each phase is split where its peak can move from one part to another as the views grow: T and F at
the first head (the aggregator's per-layer transient grows with the views, a DPT head's chunk of
frames does not), B where the recomputation of the aggregator's layers begins. Each part's peak is
fitted as c + d L + S (a + b L) over the (S, L) grid (d L: autocast's bf16 copies of the trainable
matrices, kept for the whole forward pass whatever the number of images), and a phase's peak is the
larger of its parts'. L >= 5 keeps the DPT heads' 4 taps on 4 distinct layers, as at L = 24. For the
VGGT-1B recipe (L = 24, 24 views per scene) the peak above the fixed bytes (weights, AdamW states) is
    this code:           max(T(24 views), F_peak(images), F(images) + B(images) + gradients)
    the first landing:   max(F_peak, F + T(all images), F + B + gradients)
since the first landing ran the teacher on the whole batch after the student's forward, and this code
runs it first, one scene at a time. (The issue's table measured one step without optimizer states;
that number is printed too.) Run it against another checkout to measure other code:
`PYTHONPATH=/path/to/checkout python path/to/checkout/benchmarks/bench_train_memory.py`; it uses only
entry points that the first landing had as well.

    python benchmarks/bench_train_memory.py [--grid 2x5 2x6 2x8 3x5 3x8] [--height 518] [--no-point-head]

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
    """The training code's teacher (bf16 matrices for mixed precision) or, for older checkouts, its copy.
    Also stores the student's frozen matrices in bf16, as SegVGGTModule.on_fit_start does under bf16-mixed."""
    try:
        from segvggt.training.low_precision import store_frozen_matrices
    except ImportError:  # checkouts before it kept every student weight in fp32
        pass
    else:
        store_frozen_matrices(model.vggt.aggregator, torch.bfloat16)
    try:
        from segvggt.training.teacher import low_precision_teacher
        from segvggt.training.teacher import make_teacher as make
    except ImportError:  # the first landing: an fp32 deep copy with every head
        return copy.deepcopy(model.vggt).eval().requires_grad_(False)
    return low_precision_teacher(make(model.vggt))


def teacher_first() -> bool:
    """True for this code (teacher before the student, one scene at a time), False for the first landing."""
    try:
        import segvggt.training.teacher  # noqa: F401
    except ImportError:
        return False
    return True


class CachedTeacher:
    """Stands in for the teacher inside `training_losses`: returns its outputs computed beforehand."""

    def __init__(self, outputs: dict):
        self.outputs = outputs

    def __call__(self, images, heads=None):
        return self.outputs


MARK = "segvggt::phase"


def live_and_peak(fn) -> tuple[float, list[float], object]:
    """(bytes still allocated after fn(), peak bytes of each segment of fn() between `mark()` calls,
    fn's result), from the profiler's memory events. Peaks are counted from fn()'s start."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    current, peaks = 0, [0.0]
    for event in events:
        if event.name == MARK:
            peaks.append(float(current))
            continue
        current += event.self_cpu_memory_usage
        peaks[-1] = max(peaks[-1], current)
    return float(current), peaks, result


def mark() -> None:
    """Start a new segment of the enclosing `live_and_peak`."""
    with torch.profiler.record_function(MARK):
        pass


class PhaseMarks:
    """Marks a segment boundary the first time each of `modules` runs while armed (forward pre-hooks,
    so a checkpoint's recomputation in the backward pass counts too)."""

    def __init__(self, *modules: torch.nn.Module) -> None:
        self.armed, self.done = False, set()
        self.handles = [m.register_forward_pre_hook(self._hook(i)) for i, m in enumerate(modules)]

    def _hook(self, i: int):
        def hook(module, args):
            if self.armed and i not in self.done:
                self.done.add(i)
                mark()

        return hook

    def arm(self) -> None:
        self.armed, self.done = True, set()

    def disarm(self) -> None:
        self.armed = False

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


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


def measure(S: int, L: int, H: int, W: int, point_head: bool) -> dict[str, float]:
    """Bytes of the step's phases (see the module docstring) and the gradient bytes of this model."""
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
    start = time.perf_counter()

    def teacher_pass():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            try:
                return teacher(batch.images, heads=("camera", "depth"))
            except TypeError:  # the first landing's VGGT takes no `heads`
                return teacher(batch.images)

    aggregator = model.vggt.aggregator
    last_layer = aggregator.frame_blocks[len(aggregator.frame_blocks) - 1]
    # segments: the teacher's aggregator | its heads; the student's aggregator | heads, decoder and
    # losses; the backward pass down to the aggregator | the aggregator's (recomputed) layers
    marks = PhaseMarks(teacher.camera_head, model.vggt.camera_head, last_layer)
    marks.arm()
    _, t_peaks, outputs = live_and_peak(teacher_pass)
    cached = CachedTeacher({k: v for k, v in outputs.items() if k in ("pose_enc", "depth", "depth_conf")})
    del outputs

    def forward():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            losses = training_losses(model, batch, criterion, cfg.loss, cfg.prompts, "teacher", teacher=cached,
                                     generator=torch.Generator().manual_seed(0))  # fmt: skip
            return criterion.weighted_sum(losses)

    marks.arm()
    f_live, f_peaks, total = live_and_peak(forward)
    # The gradients are allocated before the backward pass (autograd then adds into them), so B is the
    # backward's own transient on top of F and every gradient: the bound for any order of allocation.
    for param in model.parameters():
        if param.requires_grad:
            param.grad = torch.zeros_like(param)
    marks.arm()
    _, b_peaks, _ = live_and_peak(total.backward)
    marks.remove()
    grads = sum(p.numel() * 4 for p in model.parameters() if p.requires_grad)
    first, last = (lambda p: p[0]), (lambda p: p[-1])  # one segment only: the phase was not split
    return {"T_agg": first(t_peaks), "T_heads": last(t_peaks), "F_agg": first(f_peaks), "F_rest": last(f_peaks),
            "F": f_live, "B_heads": first(b_peaks), "B_agg": last(b_peaks), "grads": grads,
            "seconds": time.perf_counter() - start}  # fmt: skip


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
        # modules the teacher shares with the student (its frozen patch embedding) are counted once
        "teacher weights": sum(p.numel() * p.element_size() for p in teacher.parameters()
                               if all(p is not q for q in model.parameters())),
        "gradients": 4 * trainable,
        "AdamW states": 8 * trainable,
        "trainable parameters": trainable,
    }


def gpu_step_parts(images: int, H: int, W: int, device: str = "cuda", layers: int = 24, views: int = 24):
    """(model, teacher, criterion, optimizer, batch, cfg) of the recipe's training step on `device` with
    B x `views` views (images = views B): VGGT-1B with DINOv2 at 24 layers, else the conv stem (dry runs)."""
    from segvggt.losses import SetCriterion
    from segvggt.segmentation.segvggt import SegVGGT
    from segvggt.training.optim import build_optimizer, fused_is_compatible
    from segvggt.types import SceneBatch

    B = max(1, images // views)
    cfg, model_cfg = recipe(True, layers, dinov2=layers == 24)
    torch.manual_seed(0)
    model = SegVGGT(model_cfg).train()
    model.vggt.point_head.requires_grad_(False)
    teacher = make_teacher(model).to(device)
    model.to(device)
    criterion = SetCriterion(cfg.loss)
    optimizer, _ = build_optimizer(model, cfg.optim, 1000, fused=fused_is_compatible(cfg.optim.grad_clip, False))
    scenes = [random_batch(views, H, W, cfg.model.num_classes, seed=b) for b in range(B)]
    batch = SceneBatch(
        torch.cat([s.images for s in scenes]), torch.cat([s.depth for s in scenes]),
        torch.cat([s.cam_from_world for s in scenes]), torch.cat([s.intrinsics for s in scenes]),
        torch.cat([s.instance_ids for s in scenes]), [s.targets[0] for s in scenes], ["bench"] * B,
        [s.frame_names[0] for s in scenes],
    ).to(device)  # fmt: skip
    return model, teacher, criterion, optimizer, batch, cfg


def measure_gpu(images: int, H: int, W: int, steps: int = 3) -> tuple[float, float]:
    """(peak allocated bytes including optimizer states, median seconds per step) of the full recipe
    on CUDA with B x 24 views (images = 24 B), as SegVGGTModule trains it under bf16-mixed."""
    from segvggt.training.objective import training_losses

    device = torch.device("cuda")
    model, teacher, criterion, optimizer, batch, cfg = gpu_step_parts(images, H, W)
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
    """Least squares of y = c + d L + S (a + b L) over rows (S, L, y) -> ([c, d, a, b], max relative residual).

    d L: per layer whatever the number of images (autocast's bf16 copies of the trainable matrices)."""
    A = np.array([[1.0, L, S, S * L] for S, L, _ in rows])
    y = np.array([value for _, _, value in rows])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    residual = float(np.max(np.abs(A @ coef - y) / np.maximum(np.abs(y), 1.0)))
    return coef, residual


def at(coef: np.ndarray, S: int, L: int) -> float:
    c, d, a, b = coef
    return float(c + d * L + S * (a + b * L))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", nargs="+", default=["2x5", "2x6", "2x8", "3x5", "3x8"], help="SxL pairs to measure")
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
    keys = ("T_agg", "T_heads", "F_agg", "F_rest", "F", "B_heads", "B_agg")
    print(f"{'S':>3} {'L':>3} " + " ".join(f"{k:>8}" for k in keys) + f" {'grads':>7} {'s':>5}   (GB)")
    rows = []
    for item in args.grid:
        S, L = (int(v) for v in item.lower().split("x"))
        m = measure(S, L, H, W, point_head)
        rows.append((S, L, m))
        print(f"{S:>3} {L:>3} " + " ".join(f"{m[k] / GB:>8.3f}" for k in keys) +
              f" {m['grads'] / GB:>7.3f} {m['seconds']:>5.0f}", flush=True)  # fmt: skip
    fits = {}
    for key in keys:
        fits[key], residual = fit([(S, L, m[key]) for S, L, m in rows])
        c, d, a, b = fits[key] / GB
        print(f"fit {key:>7} = {c:.3f} + {d:.4f} L + S x ({a:.4f} + {b:.5f} L) GB (max residual {100 * residual:.1f} %)")
    fixed = fixed_bytes(point_head)
    print("VGGT-1B recipe, analytic: " + ", ".join(
        f"{k} {v / GB:.2f} GB" for k, v in fixed.items() if k != "trainable parameters"
    ) + f" ({fixed['trainable parameters'] / 1e6:.0f} M trainable)")  # fmt: skip
    order = "teacher first, one scene at a time" if teacher_first() else "teacher on the whole batch after the student"
    for images in (24, 48):
        def phase(*names: str, views: int = images) -> float:
            return max(at(fits[name], views, 24) for name in names)

        f_peak, kept = phase("F_agg", "F_rest"), at(fits["F"], images, 24)
        backward = kept + fixed["gradients"] + phase("B_heads", "B_agg")
        if teacher_first():
            teacher = phase("T_agg", "T_heads", views=24)  # one scene of 24 views
        else:
            teacher = kept + phase("T_agg", "T_heads")
        above = max(teacher, f_peak, backward)
        weights = fixed["student weights"] + fixed["teacher weights"]
        print(f"predicted peak GB at {images} images: {(weights + fixed['AdamW states'] + above) / GB:.1f} "
              f"(one step without optimizer states: {(weights + above) / GB:.1f}; {order}; phases above the "
              f"weights: teacher {teacher / GB:.1f}, forward {f_peak / GB:.1f}, backward {backward / GB:.1f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
