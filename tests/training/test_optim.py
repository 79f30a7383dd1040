"""Learning-rate schedule and parameter groups (known values)."""

from __future__ import annotations

import math

import pytest

from segvggt.training.optim import warmup_cosine


def test_warmup_is_linear_then_cosine_to_the_floor():
    total, frac, floor = 100, 0.1, 0.01
    assert warmup_cosine(0, total, frac, floor) == pytest.approx(0.1)  # (0 + 1) / 10
    assert warmup_cosine(9, total, frac, floor) == pytest.approx(1.0)
    assert warmup_cosine(10, total, frac, floor) == pytest.approx(1.0)
    mid = 10 + 45  # half-way through the cosine part
    assert warmup_cosine(mid, total, frac, floor) == pytest.approx(floor + (1 - floor) * 0.5)
    assert warmup_cosine(total, total, frac, floor) == pytest.approx(floor)
    assert warmup_cosine(10 * total, total, frac, floor) == pytest.approx(floor)  # clamped past the end


def test_schedule_is_monotone_after_warmup():
    values = [warmup_cosine(s, 50, 0.1, 0.0) for s in range(5, 51)]
    assert all(a >= b - 1e-12 for a, b in zip(values, values[1:]))
    assert not math.isnan(sum(values))


def test_optimizer_has_two_learning_rates(tiny_config):
    from segvggt.segmentation.segvggt import SegVGGT
    from segvggt.training.optim import build_optimizer

    cfg, _ = tiny_config("optim.lr_new=0.01", "optim.lr_pretrained=0.001")
    model = SegVGGT.from_config(cfg.model)
    optimizer, scheduler = build_optimizer(model, cfg.optim, total_steps=10)
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs["new"] == pytest.approx(0.01 * warmup_cosine(0, 10, cfg.optim.warmup_fraction, cfg.optim.min_lr_ratio))
    assert lrs["pretrained"] == pytest.approx(0.001 * warmup_cosine(0, 10, cfg.optim.warmup_fraction, cfg.optim.min_lr_ratio))
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    in_groups = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert sorted(in_groups) == sorted(trainable)  # every trainable parameter exactly once


def test_atomic_writes_leave_readable_files_and_no_temporaries(tmp_path):
    import stat

    from segvggt.atomic import atomic_path, atomic_write_text

    atomic_write_text(tmp_path / "a.txt", "hello")
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # neither b.bin nor a temporary
