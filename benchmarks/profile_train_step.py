"""Where the time of one training step of the VGGT-1B scannet200 recipe goes, on a CUDA GPU (not a test).

The step is `bench_train_memory.measure_gpu`'s (random VGGT-1B weights, B x 24 views of 518 x 518 px,
bf16 autocast, teacher, LoRA r32, prompts, FADA, clipping, AdamW). After --warmup steps it times one
step's phases with a device synchronisation around each (so their sum is a little above a free-running
step) and then profiles one more step with torch.profiler (CPU + CUDA) and prints:
  phases     click prompts, teacher forward and targets, the student's forward (and inside it, inclusive: aggregator, camera head,
             depth head, object-query blocks, semantic head, query heads), set criterion (Hungarian
             matching + mask / class / FADA losses), geometry losses, backward (with the checkpointed
             recomputation), clipping + AdamW;
  GPU busy   the step's device time (kernels and copies) / its wall time (low = the GPU waits on the host);
  top ops    the --top operators by self CUDA time.

    python benchmarks/profile_train_step.py --images 48
    python benchmarks/profile_train_step.py --device cpu --layers 2 --views 2 --images 2   # dry run (CPU)
Without CUDA (and without --device cpu) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STUDENT_PARTS = ("vggt.aggregator", "vggt.camera_head", "vggt.depth_head", "prompt_encoder", "semantic_head",
                 "query_heads")  # fmt: skip


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PhaseClock:
    """Accumulates synchronised wall seconds per named phase."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)
        self.enabled = True
        self._starts: dict[str, float] = {}

    def start(self, name: str) -> None:
        if self.enabled:
            synchronize(self.device)
            self._starts[name] = time.perf_counter()

    def stop(self, name: str) -> None:
        if self.enabled and name in self._starts:
            synchronize(self.device)
            self.seconds[name] += time.perf_counter() - self._starts.pop(name)

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            self.start(name)
            try:
                return fn(*args, **kwargs)
            finally:
                self.stop(name)

        return timed

    def hook(self, module: torch.nn.Module, name: str) -> None:
        """Times module's forward calls made while grad mode is on and outside backward (not recomputation)."""

        def pre(_module, _args):
            if torch.is_grad_enabled() and torch._C._current_graph_task_id() < 0:
                self.start(name)

        def post(_module, _args, _out):
            self.stop(name)

        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=48, help="B x 24 views")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--device", default="cuda", help="cuda, or cpu for a dry run with --layers / --views")
    parser.add_argument("--layers", type=int, default=24, help="aggregator layers (24: VGGT-1B with DINOv2)")
    parser.add_argument("--views", type=int, default=24, help="views per scene")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("profile_train_step: no CUDA GPU here - skipped")
        return 0

    import bench_train_memory as bench

    from segvggt.training import objective

    model, teacher, criterion, optimizer, batch, cfg = bench.gpu_step_parts(
        args.images, 518, 518, device=device, layers=args.layers, views=args.views
    )
    clock = PhaseClock(device)
    objective.sample_batch_prompts = clock.wrap("click prompts", objective.sample_batch_prompts)
    objective.teacher_outputs = clock.wrap("teacher forward", objective.teacher_outputs)
    objective.teacher_targets = clock.wrap("teacher targets", objective.teacher_targets)
    objective.geometry_losses = clock.wrap("geometry losses", objective.geometry_losses)
    criterion.forward = clock.wrap("set criterion", criterion.forward)
    for part in STUDENT_PARTS:
        clock.hook(model.get_submodule(part), f"  forward: {part}")
    for block in model.query_blocks:
        clock.hook(block, "  forward: query blocks (all)")
    model_forward = model.forward
    model.forward = clock.wrap("student forward", model_forward)

    def step(i: int) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            losses = objective.training_losses(model, batch, criterion, cfg.loss, cfg.prompts, "teacher",
                                               teacher=teacher, generator=torch.Generator().manual_seed(i))  # fmt: skip
            total = criterion.weighted_sum(losses)
        clock.start("backward")
        total.backward()
        clock.stop("backward")
        clock.start("clip + AdamW")
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], cfg.optim.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        clock.stop("clip + AdamW")

    clock.enabled = False
    for i in range(args.warmup):
        synchronize(device)
        start = time.perf_counter()
        step(i)
        synchronize(device)
        print(f"warm-up step {i}: {time.perf_counter() - start:.2f} s", flush=True)
    clock.enabled = True
    synchronize(device)
    start = time.perf_counter()
    step(args.warmup)
    timed_wall = time.perf_counter() - start
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (dry run)"
    print(f"{name}: one step of {args.images} images, phases synchronised: {timed_wall:.2f} s")
    for name, seconds in clock.seconds.items():
        print(f"  {name:<40} {seconds:7.2f} s")
    outside = timed_wall - sum(v for k, v in clock.seconds.items() if not k.startswith(" "))
    print(f"  {'outside the phases above':<40} {outside:7.2f} s")

    clock.enabled = False
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        synchronize(device)
        start = time.perf_counter()
        step(args.warmup + 1)
        synchronize(device)
        wall = time.perf_counter() - start
    events = prof.key_averages()
    # The device's own events (kernels, copies), as the table's "Self CUDA time total" counts them; the
    # operators above them carry the same time again. CUPTI's "Command Buffer Full" is listed apart.
    device = [e for e in prof.events() if e.device_type == DeviceType.CUDA and not getattr(e, "is_user_annotation", False)]
    stalls = sum(e.self_device_time_total for e in device if e.name == "Command Buffer Full") / 1e6
    busy = sum(e.self_device_time_total for e in device) / 1e6 - stalls
    print(f"profiled step: {wall:.2f} s wall (profiler on), device time {busy:.2f} s without 'Command Buffer "
          f"Full' ({stalls:.2f} s): GPU busy {min(busy / wall, 1.0):.0%}")  # fmt: skip
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(events.table(sort_by=sort, row_limit=args.top, max_name_column_width=60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
