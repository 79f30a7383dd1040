"""Gradient clipping with every precision the recipes use, on the CPU paths a GPU takes."""

from __future__ import annotations

import pytest
import torch


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
def test_clipping_and_optimizer_work_together_with_every_precision(tiny_config, tmp_path, monkeypatch, precision):
    from lightning.pytorch.plugins.precision import MixedPrecision

    from segvggt.data.datamodule import SceneDataModule
    from segvggt.training.checkpoints import AtomicCheckpointIO
    from segvggt.training.module import SegVGGTModule
    from segvggt.training.run import build_trainer

    clipped = []
    real = torch.nn.utils.clip_grad_norm_

    def counting(params, max_norm, *args, **kwargs):
        clipped.append(max_norm)
        return real(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", counting)
    overrides = {}
    if precision == "16-mixed":
        # As on a GPU: a gradient scaler (Lightning gives CPU 16-mixed none, so pass one explicitly).
        scaler = torch.amp.GradScaler("cpu")
        overrides = dict(precision=None, plugins=[MixedPrecision("16-mixed", "cpu", scaler), AtomicCheckpointIO()])
    cfg, data = tiny_config(
        "optim.grad_clip=0.5", "trainer.max_steps=2", f"trainer.precision={precision}", "trainer.limit_val_batches=0",
        "trainer.logger=[csv]",
    )  # fmt: skip
    module = SegVGGTModule(data)
    trainer = build_trainer(cfg, tmp_path, **overrides)
    trainer.fit(module, datamodule=SceneDataModule(cfg.data))
    assert trainer.global_step == 2
    assert clipped == [0.5, 0.5]
    fused = trainer.optimizers[0].defaults["fused"]
    # fused AdamW unscales inside its step, so it cannot follow a scaler's clipping: foreach then
    assert fused is (precision != "16-mixed")
    assert all(torch.isfinite(p).all() for p in module.model.parameters())
