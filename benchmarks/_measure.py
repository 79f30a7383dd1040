"""Timing and memory helpers shared by the benchmark scripts."""

from __future__ import annotations

from collections.abc import Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes allocated during fn() above what was allocated before it (CUDA allocator on GPU,
    the profiler's allocation events on CPU)."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        sync(device)
        return torch.cuda.max_memory_allocated(device) - base
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak


def count_ops(fn: Callable[[], object]) -> tuple[int, int]:
    """(aten operators, of which not views) dispatched during fn(): on a GPU each non-view operator is
    about one kernel launch, so this counts launches without a GPU."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Counter(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.total = self.compute = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.total += 1
            if not func.is_view:
                self.compute += 1
            return func(*args, **(kwargs or {}))

    with Counter() as counter:
        fn()
    return counter.total, counter.compute
