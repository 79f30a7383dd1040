"""FLOPs of one training step of the scannet200 recipe at full size, counted without running it.

Not a test. The whole step of the VGGT-1B recipe (DINOv2 ViT-L, 24 + 24 aggregator blocks, Q = 100,
LoRA r32, 4 click prompts per scene, FADA frame mass, gradient checkpointing as configured) is traced
on the `meta` device, where tensors have shapes but no data, under torch's FlopCounterMode: the
teacher's forward (camera + depth), the student's forward and a backward pass. The criterion's own
arithmetic (matching, point losses: < 0.1 % of the step) is replaced by the mean of every output, so
every output receives a gradient as in training.

Reported: the FLOPs of the student's forward, its backward (with the recomputation of checkpointed
layers and heads) and the teacher's forward; the minimum the step needs: 6 N T + 3 x attention for
the student's aggregator (N its matrix parameters, T tokens: forward 2 N T, backward 4 N T), the
teacher's aggregator forward, the frozen patch embedding once (both read the same images), and 3 x
the forward of the student's heads and decoder (+ the teacher's heads once); and the ratio. The
aggregator and patch-embedding parts are computed analytically, the heads as the measured remainder. A
time is predicted at a given matmul rate: the issue measured 780 TFLOP/s of bf16 matmuls on the H100
(1.25e15 FLOP in 1.6 s); real steps reach a fraction of that.

    python benchmarks/bench_train_flops.py [--scenes 2] [--views 24] [--height 518] [--rate 780]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

T = 1e12


def recipe_model():
    from _common import experiment_config

    from segvggt.segmentation.segvggt import SegVGGT

    cfg, _ = experiment_config("scannet200", ["pretrained=null", "geometry_supervision=gt"])
    model = SegVGGT(dataclasses.replace(cfg.model, backbone=None)).train()
    if model.vggt.point_head is not None:
        model.vggt.point_head.requires_grad_(False)
    return cfg, model


def make_teacher(model):
    try:
        from segvggt.training.teacher import make_teacher as make
    except ImportError:  # the first landing: a deep copy with every head
        return copy.deepcopy(model.vggt).eval().requires_grad_(False)
    return make(model.vggt)


def click_prompts(B: int, S: int, H: int, W: int, per_scene: int) -> list:
    """per_scene prompts of 2 positive clicks and 1 negative click on different views, for each scene."""
    return [[[(r % S, W * (r + 1) / (per_scene + 1), H / 2, True), ((r + 1) % S, W / 3, H / 3, True),
              ((r + 2) % S, W / 2, H / 4, False)] for r in range(per_scene)] for _ in range(B)]  # fmt: skip


def teacher_forward(teacher, images: torch.Tensor) -> None:
    with torch.no_grad():
        for b in range(images.shape[0]):  # one scene at a time, as training_losses
            try:
                teacher(images[b : b + 1], heads=("camera", "depth"))
            except TypeError:  # the first landing's VGGT.forward has no `heads`
                teacher(images[b : b + 1])


def student_forward(model, images: torch.Tensor, prompts: list) -> dict:
    try:
        return model(images, prompts=prompts, return_frame_mass=True, heads=("camera", "depth"), mask_logits=False)
    except TypeError:  # the first landing: every head, full mask logits
        return model(images, prompts=prompts, return_frame_mass=True)


def backward(out: dict) -> None:
    tensors = [v for v in out.values() if isinstance(v, torch.Tensor) and v.is_floating_point() and v.requires_grad]
    tensors += [v for v in out.get("pose_enc_list", []) if v.requires_grad]
    sum(t.float().mean() for t in tensors).backward()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=2)
    parser.add_argument("--views", type=int, default=24)
    parser.add_argument("--height", type=int, default=518)
    parser.add_argument("--rate", type=float, default=780.0, help="bf16 matmul TFLOP/s assumed for the time")
    args = parser.parse_args()
    B, S, H, W = args.scenes, args.views, args.height, 518
    start = time.perf_counter()
    with torch.device("meta"):
        cfg, model = recipe_model()
        teacher = make_teacher(model)
        images = torch.rand(B, S, 3, H, W)
    prompts = click_prompts(B, S, H, W, cfg.prompts.prompts_per_scene)
    with FlopCounterMode(display=False) as counter:
        teacher_forward(teacher, images)
    teacher_flops = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        student_forward(model, images, prompts)
    forward_flops = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        backward(student_forward(model, images, prompts))
    step_flops = counter.get_total_flops()
    total = teacher_flops + step_flops

    # Transformer parts, analytically: tokens per view P = 5 + (H/14)(W/14); a block costs 2 N per token
    # (N its matrix parameters) plus attention, forward.
    agg = model.vggt.aggregator
    patches = (H // 14) * (W // 14)
    P = agg.patch_start_idx + patches
    tokens = B * S * P
    block_params = sum(p.numel() for blk in (*agg.frame_blocks, *agg.global_blocks) for p in blk.parameters() if p.dim() > 1)
    C, depth = agg.embed_dim, agg.depth
    attention = depth * (4 * B * S * P * P * C + 4 * B * (S * P) ** 2 * C)  # frame + global: QK^T and AV
    aggregator_fwd = 2 * block_params * tokens + attention
    dino = agg.patch_embed
    dino_params = sum(p.numel() for p in dino.parameters() if p.dim() > 1)
    dino_tokens = B * S * (patches + 5)  # + cls and 4 registers
    dino_depth = len(getattr(dino, "blocks", ()))
    dino_fwd = 2 * dino_params * dino_tokens + dino_depth * 4 * B * S * (patches + 5) ** 2 * C
    student_heads_fwd = forward_flops - aggregator_fwd - dino_fwd  # heads, semantic head, decoder
    teacher_heads_fwd = teacher_flops - aggregator_fwd - dino_fwd
    minimum = (3 * aggregator_fwd  # student aggregator: forward + backward (6 N T + 3 x attention)
               + aggregator_fwd + dino_fwd  # teacher aggregator forward; one patch embedding for both
               + 3 * student_heads_fwd + teacher_heads_fwd)  # heads and decoder: forward (+ backward)
    print(f"training step of the scannet200 recipe: {B} x {S} views of {W} x {H} px ({B * S} images), "
          f"traced on meta in {time.perf_counter() - start:.0f} s; torch {torch.__version__}")  # fmt: skip
    rows = [
        ("student forward", forward_flops),
        ("  of which aggregator blocks (2 N T + attention)", aggregator_fwd),
        ("  of which patch embedding (DINOv2, frozen)", dino_fwd),
        ("  of which heads, semantic head, query decoder", student_heads_fwd),
        ("student backward, with checkpoint recomputation", step_flops - forward_flops),
        ("teacher forward (camera + depth)", teacher_flops),
        ("whole step", total),
        ("minimum (see the module docstring)", minimum),
    ]
    for name, flops in rows:
        print(f"{name:<52}{flops / T:>9.1f} TFLOP")
    print(f"whole step / minimum = {total / minimum:.2f} (the excess: checkpoint recomputation, the patch "
          f"embedding run by student and teacher)")  # fmt: skip
    print(f"predicted step time at {args.rate:.0f} TFLOP/s: {total / (args.rate * T):.2f} s "
          f"(at half that rate: {2 * total / (args.rate * T):.2f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
