"""The Predictor's memory estimate: its parts equal what encode keeps, it bounds a measured peak, and it
suggests --max-frames only when the estimate does not fit."""

from __future__ import annotations

import pytest
import torch

from segvggt.inference import memory
from segvggt.inference.checkpoints import LoadedModel
from segvggt.inference.errors import InferenceError
from segvggt.inference.predictor import Predictor

from inference_fixtures import IMAGE_SIZE


def nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def test_kept_parts_equal_what_encode_keeps(tiny_model):
    S, H, W = 3, 42, 56
    images = torch.rand(1, S, 3, H, W)
    estimate = memory.estimate_memory(tiny_model, S, H, W, activation_bytes=4)
    with torch.no_grad():
        encoded = tiny_model.encode(images)
        keep = tiny_model.vggt.head_layers() | set(tiny_model.semantic_head.cfg.intermediate_layer_idx)
        taps, _ = tiny_model.vggt.aggregator(images, keep_layers=keep)
    assert estimate.token_kv == nbytes(encoded.token_kv)  # L_q x S P' x 2 Dq x 4 bytes
    assert estimate.taps == nbytes(taps)  # the layers the heads read, [S, P, 2C] fp32 each
    assert estimate.instance_features == nbytes([encoded.instance_features])
    assert estimate.parameters == nbytes(tiny_model.parameters())
    # the old layout kept every layer: the estimate's taps are a fraction of that
    every, _ = tiny_model.vggt.aggregator(images)
    assert estimate.taps < nbytes(every)


def test_estimate_bounds_the_measured_peak_of_set_images_and_segment_all(tiny_model):
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    predictor = Predictor(LoadedModel(tiny_model, "export", "synthetic", IMAGE_SIZE, "crop", "test"), "cpu")
    images = torch.rand(4, 3, 42, 56)
    predictor.set_images(images, memory_check=False)
    predictor.segment_all(score_threshold=0.0)  # warm-up
    predictor._scene = None  # noqa: SLF001
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        predictor.set_images(images, memory_check=False)
        predictor.segment_all(score_threshold=0.0)
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    estimate = memory.estimate_memory(tiny_model, 4, 42, 56, activation_bytes=4)
    raw = max(estimate.aggregator_phase, estimate.heads_phase, estimate.post_phase) - estimate.parameters
    assert peak <= raw < 4 * peak  # above the measurement, and not wildly (measured: ~1.5x on this tiny model)


def test_phases_grow_with_frames_and_bf16_halves_the_activations(tiny_model):
    small, large = (memory.estimate_memory(tiny_model, s, 42, 56) for s in (4, 40))
    for phase in ("aggregator_phase", "heads_phase", "post_phase"):
        assert getattr(large, phase) > getattr(small, phase)
    half = memory.estimate_memory(tiny_model, 40, 42, 56, activation_bytes=2)
    assert half.token_kv * 2 == large.token_kv and half.instance_features * 2 == large.instance_features
    assert half.taps * 2 == large.taps  # at inference under autocast the kept layers are bf16 too


def test_max_frames_is_suggested_only_when_the_estimate_does_not_fit(tiny_model):
    need = memory.estimate_peak_bytes(tiny_model, 8, 42, 56)
    cpu = torch.device("cpu")
    assert memory.check_memory(tiny_model, 8, 42, 56, cpu, available=need) == need  # fits exactly: no error
    with pytest.raises(InferenceError, match=r"8 frames at 56x42 need about .* try --max-frames 7"):
        memory.check_memory(tiny_model, 8, 42, 56, cpu, available=need - 1)
    assert memory.max_frames_that_fit(tiny_model, 42, 56, need) == 8


def test_cuda_checks_with_the_margin_measured_on_a_gpu(tiny_model):
    """On CUDA the phases are multiplied by 1.4 instead of 1.2 (the H200 peaks were up to 1.34 x the phases);
    nothing touches a GPU here: the free memory is given."""
    parts = memory.estimate_memory(tiny_model, 8, 42, 56)
    phases = max(parts.aggregator_phase, parts.heads_phase, parts.post_phase)
    assert memory.margin_for(torch.device("cuda")) == 1.4 and memory.margin_for(torch.device("cpu")) == 1.2
    cpu_need = memory.estimate_peak_bytes(tiny_model, 8, 42, 56)
    cuda_need = memory.estimate_peak_bytes(tiny_model, 8, 42, 56, margin=1.4)
    assert (cpu_need, cuda_need) == (int(1.2 * phases), int(1.4 * phases))
    assert memory.check_memory(tiny_model, 8, 42, 56, torch.device("cuda"), available=cuda_need) == cuda_need
    with pytest.raises(InferenceError, match=r"8 frames at 56x42 need about .* is free on cuda"):
        memory.check_memory(tiny_model, 8, 42, 56, torch.device("cuda"), available=cpu_need)
