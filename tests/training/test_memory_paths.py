"""The memory-saving training paths give the losses of the plain paths on a fixed batch."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from segvggt.losses import SetCriterion
from segvggt.segmentation.segvggt import SegVGGT
from segvggt.training.objective import training_losses
from segvggt.training.low_precision import store_frozen_matrices
from segvggt.training.teacher import low_precision_teacher, make_teacher


@pytest.fixture
def fixed_batch(tiny_config):
    from segvggt.data.datamodule import SceneDataModule

    cfg, _ = tiny_config()
    return cfg, next(iter(SceneDataModule(cfg.data).train_dataloader()))


def _losses_and_grads(cfg, batch, supervision="gt", autocast=False, teacher=None, **model_options):
    torch.manual_seed(0)
    model = SegVGGT(dataclasses.replace(cfg.model, **model_options)).train()
    criterion = SetCriterion(cfg.loss)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        losses = training_losses(model, batch, criterion, cfg.loss, cfg.prompts, supervision, teacher=teacher,
                                 generator=torch.Generator().manual_seed(1))  # fmt: skip
        total = criterion.weighted_sum(losses)
    total.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: float(v) for k, v in losses.items()}, grads


def test_checkpointed_layers_heads_and_query_blocks_change_no_loss(fixed_batch):
    cfg, batch = fixed_batch
    plain, plain_grads = _losses_and_grads(cfg, batch, checkpoint_blocks=False, checkpoint_heads=False)
    saved, saved_grads = _losses_and_grads(cfg, batch, checkpoint_blocks=True, checkpoint_heads=True)
    assert plain.keys() == saved.keys() and "loss_fada" in plain and "loss_prompt_bce" in plain
    for key in plain:
        assert saved[key] == pytest.approx(plain[key], rel=1e-5, abs=1e-6), key
    assert plain_grads.keys() == saved_grads.keys()
    for name in plain_grads:
        torch.testing.assert_close(saved_grads[name], plain_grads[name], atol=1e-5, rtol=1e-4, msg=name)


def test_bf16_heads_stay_within_bf16_noise_of_fp32_heads(fixed_batch):
    cfg, batch = fixed_batch
    fp32, _ = _losses_and_grads(cfg, batch, autocast=True, head_autocast=False)
    bf16, _ = _losses_and_grads(cfg, batch, autocast=True, head_autocast=True)
    for key in fp32:
        assert bf16[key] == pytest.approx(fp32[key], rel=0.03, abs=0.02), key


def test_low_precision_teacher_gives_the_fp32_teachers_targets_under_autocast(fixed_batch):
    cfg, batch = fixed_batch
    torch.manual_seed(0)
    student = SegVGGT(dataclasses.replace(cfg.model, lora_rank=2, backbone={
        **cfg.model.backbone, "vggt": {**cfg.model.backbone["vggt"], "enable_point": True}}))  # fmt: skip
    teacher = make_teacher(student.vggt)
    assert teacher.point_head is None and not any(".lora_" in n for n, _ in teacher.named_parameters())
    assert not any(p.requires_grad for p in teacher.parameters())
    # LoRA's base layers never change: the teacher uses the student's, not copies
    assert teacher.aggregator.frame_blocks[0].attn.qkv is student.vggt.aggregator.frame_blocks[0].attn.qkv.base_layer
    assert teacher.aggregator.frame_blocks[0].mlp.fc1 is not student.vggt.aggregator.frame_blocks[0].mlp.fc1
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        reference = teacher(batch.images)
        store_frozen_matrices(student.vggt.aggregator, torch.bfloat16)  # as SegVGGTModule.on_fit_start
        low = low_precision_teacher(teacher)(batch.images)
    assert teacher.aggregator.frame_blocks[0].attn.qkv.weight.dtype == torch.bfloat16  # the student's, shared
    assert teacher.aggregator.frame_blocks[0].mlp.fc1.weight.dtype == torch.bfloat16  # the teacher's own
    assert student.vggt.aggregator.frame_blocks[0].mlp.fc1.weight.dtype == torch.float32  # trainable: fp32
    assert teacher.aggregator.frame_blocks[0].norm1.weight.dtype == torch.float32  # residual stream stays fp32
    for key in ("pose_enc", "depth", "depth_conf"):
        assert torch.equal(low[key], reference[key]), key


def test_frozen_student_matrices_in_bf16_change_no_loss_or_gradient_under_autocast(fixed_batch):
    """What SegVGGTModule.on_fit_start does under bf16-mixed: same losses and gradients, bit for bit."""
    cfg, batch = fixed_batch
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, freeze_patch_embed=True))
    results = []
    for low in (False, True):
        torch.manual_seed(0)
        model = SegVGGT(cfg.model).train()
        if low:
            assert store_frozen_matrices(model.vggt.aggregator, torch.bfloat16) > 0
            assert model.vggt.aggregator.patch_embed.proj.weight.dtype == torch.bfloat16
        criterion = SetCriterion(cfg.loss)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            losses = training_losses(model, batch, criterion, cfg.loss, cfg.prompts, "gt",
                                     generator=torch.Generator().manual_seed(1))  # fmt: skip
            total = criterion.weighted_sum(losses)
        total.backward()
        results.append(({k: float(v) for k, v in losses.items()},
                        {n: p.grad for n, p in model.named_parameters() if p.grad is not None}))  # fmt: skip
    (plain, plain_grads), (low, low_grads) = results
    assert plain == low
    assert plain_grads.keys() == low_grads.keys()
    for name in plain_grads:
        assert torch.equal(plain_grads[name], low_grads[name]), name


def test_the_teacher_is_not_in_the_checkpoint(tiny_config, tmp_path):
    from segvggt.backbone import build_vggt
    from segvggt.training.module import SegVGGTModule

    _, data = tiny_config()
    torch.manual_seed(0)
    pretrained = tmp_path / "model.pt"
    torch.save(build_vggt(data["model"]["backbone"]).state_dict(), pretrained)
    module = SegVGGTModule({**data, "pretrained": str(pretrained), "geometry_supervision": "teacher"})
    assert module.teacher is not None
    keys = set(module.state_dict())
    assert keys == {f"model.{k}" for k in module.model.state_dict()}
    assert not any("teacher" in k for k in keys)
    # the teacher's weights are the pre-trained file's (the student's may move; the teacher never does)
    reference = torch.load(pretrained, weights_only=True)
    for name, value in module.teacher.state_dict().items():
        assert torch.equal(value, reference[name]), name


def test_a_frozen_patch_embedding_is_shared_with_the_teacher_not_copied(tiny_config):
    cfg, _ = tiny_config("model.freeze_patch_embed=true")
    student = SegVGGT(cfg.model)
    teacher = low_precision_teacher(make_teacher(student.vggt))
    assert teacher.aggregator.patch_embed is student.vggt.aggregator.patch_embed
    assert student.vggt.aggregator.patch_embed.proj.weight.dtype == torch.float32  # the student decides
    assert teacher.aggregator.frame_blocks[0].mlp.fc1.weight.dtype == torch.bfloat16
    learner = SegVGGT(tiny_config()[0].model)  # tiny: freeze_patch_embed false -> the teacher gets a copy
    copied = make_teacher(learner.vggt)
    assert learner.vggt.aggregator.patch_embed not in copied.shared_modules
    assert copied.aggregator.patch_embed is not learner.vggt.aggregator.patch_embed


def test_bf16_checkpoint_inputs_keep_the_losses_and_move_gradients_by_bf16_rounding_only(fixed_batch):
    """model.checkpoint_low_precision under autocast: the forward pass is the same (losses equal), the
    backward recomputes each layer from its bf16-stored input (gradients within bf16 rounding)."""
    cfg, batch = fixed_batch
    # The heads read layers 1 and 3 only, so the inputs of layers 1 and 3 are plain layer outputs
    # (a layer the heads keep is stored once, in fp32, for them anyway).
    backbone = {**cfg.model.backbone, "dpt_common": {**cfg.model.backbone["dpt_common"],
                                                     "intermediate_layer_idx": [1, 1, 3, 3]}}  # fmt: skip
    plain, plain_grads = _losses_and_grads(cfg, batch, autocast=True, checkpoint_blocks=True, backbone=backbone)
    low, low_grads = _losses_and_grads(cfg, batch, autocast=True, checkpoint_blocks=True, backbone=backbone,
                                       checkpoint_low_precision=True)  # fmt: skip
    assert low == plain
    assert low_grads.keys() == plain_grads.keys()
    moved = 0
    for name, grad in plain_grads.items():
        scale = float(grad.abs().max()) + 1e-12
        assert float((low_grads[name] - grad).abs().max()) <= 0.05 * scale, name
        moved += not torch.equal(low_grads[name], grad)
    assert moved > 0  # the aggregator's gradients did come from the bf16 copies


def test_the_point_head_trains_only_when_its_loss_counts(tiny_config):
    from segvggt.training.module import SegVGGTModule

    point_backbone = "model.backbone.vggt={img_size: 56, patch_size: 14, embed_dim: 32, enable_camera: true, enable_depth: true, enable_point: true}"
    off_cfg, off = tiny_config(point_backbone)
    on_cfg, on = tiny_config(point_backbone, "loss.w_point=1.0")
    from segvggt.data.datamodule import SceneDataModule

    batch = next(iter(SceneDataModule(on_cfg.data).train_dataloader()))
    for cfg, data, trains in ((off_cfg, off, False), (on_cfg, on, True)):
        module = SegVGGTModule(data)
        head = module.model.vggt.point_head
        assert all(p.requires_grad == trains for p in head.parameters())
        losses = training_losses(module.model, batch, module.criterion, cfg.loss, cfg.prompts, "gt")
        assert ("loss_point" in losses) == trains
        if trains:
            module.criterion.weighted_sum(losses).backward()
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters() if p.dim() > 1)
