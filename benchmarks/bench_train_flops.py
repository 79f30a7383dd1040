"""FLOPs of one training step of the scannet200 recipe at full size, counted without running it.

Not a test. The whole step of the VGGT-1B recipe (DINOv2 ViT-L, 24 + 24 aggregator blocks, Q = 100,
LoRA r32, 4 click prompts per scene, FADA frame mass, gradient checkpointing as configured) is traced
on the `meta` device, where tensors have shapes but no data, under torch's FlopCounterMode: the
teacher's forward (camera + depth), the student's forward and a backward pass. The criterion's own
arithmetic (matching, point losses: < 0.1 % of the step) is replaced by the mean of every output, so
every output receives a gradient as in training.

Reported: FLOPs per part, the minimum the transformer parts need (forward 2 N T, backward 4 N T, for
N parameters applied to T tokens, plus attention; the frozen patch embedding and the teacher only
forward), and the ratio measured / minimum. Checkpointing adds one forward of what it recomputes. A
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


# Student parts by module path prefix (FlopCounterMode names paths from the root class).
PARTS = {
    "aggregator blocks": ("SegVGGT.vggt.aggregator.frame_blocks", "SegVGGT.vggt.aggregator.global_blocks"),
    "patch embed (DINOv2, frozen)": ("SegVGGT.vggt.aggregator.patch_embed",),
    "camera head": ("SegVGGT.vggt.camera_head",),
    "depth head": ("SegVGGT.vggt.depth_head",),
    "point head": ("SegVGGT.vggt.point_head",),
    "semantic head": ("SegVGGT.semantic_head",),
    "query blocks, key/value projections, prompts, query heads": (
        "SegVGGT.query_blocks", "SegVGGT.prompt_encoder", "SegVGGT.query_heads"),
}  # fmt: skip


def own_flops(counts: dict[str, dict]) -> dict[str, float]:
    """Per module path, its FLOPs minus those of its direct children (ops it runs itself)."""
    total = {path: float(sum(c.values())) for path, c in counts.items()}
    own = dict(total)
    for path, flops in total.items():
        parent = path.rpartition(".")[0]
        if parent in own and path != parent:
            own[parent] -= flops
    return own


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
    forward_total = counter.get_total_flops()
    own = own_flops(counter.get_flop_counts())
    forward_parts = {name: sum(f for p, f in own.items() if p.startswith(prefixes)) for name, prefixes in PARTS.items()}
    with FlopCounterMode(display=False) as counter:  # module attribution is unreliable with recompute here
        backward(student_forward(model, images, prompts))
    total = teacher_flops + counter.get_total_flops()
    backward_flops = counter.get_total_flops() - forward_total

    # The minimum of the transformer parts: tokens per view P = 5 + (H/14)(W/14).
    agg = model.vggt.aggregator
    P = agg.patch_start_idx + (H // 14) * (W // 14)
    tokens = B * S * P
    block_params = sum(p.numel() for blk in (*agg.frame_blocks, *agg.global_blocks) for p in blk.parameters())
    C, depth = agg.embed_dim, agg.depth
    attention_fwd = depth * (4 * B * S * P * P * C + 4 * B * (S * P) ** 2 * C)  # frame + global, QK^T and AV
    dino_params = sum(p.numel() for p in agg.patch_embed.parameters())
    patches = (H // 14) * (W // 14)
    dino_fwd = 2 * dino_params * B * S * patches + 24 * 4 * B * S * patches**2 * C
    minimum = (6 * block_params * tokens + 3 * attention_fwd  # student aggregator: forward + backward
               + 2 * block_params * tokens + attention_fwd  # teacher aggregator: forward
               + dino_fwd)  # the frozen patch embedding once (student and teacher read the same tokens)
    heads_fwd = forward_total - forward_parts["aggregator blocks"] - forward_parts["patch embed (DINOv2, frozen)"]
    teacher_heads_fwd = forward_parts["camera head"] + forward_parts["depth head"]
    minimum += 3 * heads_fwd + teacher_heads_fwd  # heads and decoder: forward + backward, no recompute
    print(f"training step of the scannet200 recipe: {B} x {S} views of {W} x {H} px ({B * S} images), "
          f"traced on meta in {time.perf_counter() - start:.0f} s; torch {torch.__version__}")  # fmt: skip
    print(f"{'student forward, by part':<58}{'TFLOP':>8}{'share':>8}")
    for name, flops in forward_parts.items():
        if flops:
            print(f"{name:<58}{flops / T:>8.2f}{flops / forward_total:>8.1%}")
    other = forward_total - sum(forward_parts.values())
    print(f"{'other (frame attention mass glue, losses surrogate)':<58}{other / T:>8.2f}{other / forward_total:>8.1%}")
    print(f"{'student forward':<58}{forward_total / T:>8.2f}")
    print(f"{'student backward (with checkpoint recomputation)':<58}{backward_flops / T:>8.2f}")
    print(f"{'teacher forward (camera + depth)':<58}{teacher_flops / T:>8.2f}")
    print(f"{'whole step':<58}{total / T:>8.2f}")
    print(f"minimum: 6 N T + 3 x attention for the student's aggregator (N its parameters, T tokens), 2 N T + "
          f"attention for the teacher's, the patch embedding once, 3 x the forward of the heads and the decoder, "
          f"the teacher's heads once: {minimum / T:.2f} TFLOP; whole step / minimum = {total / minimum:.2f} "
          f"(checkpoint recomputation and the patch embedding run twice are the excess)")  # fmt: skip
    print(f"predicted step time at {args.rate:.0f} TFLOP/s: {total / (args.rate * T):.2f} s "
          f"(at half that rate: {2 * total / (args.rate * T):.2f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
