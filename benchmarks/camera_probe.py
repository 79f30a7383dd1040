"""Camera-only probes: what the demo's aggregator + camera head learn from random weights.

    python benchmarks/camera_probe.py --task pan --steps 2400 --data-root data_cache/synthetic_sweep
    python benchmarks/camera_probe.py --task frame_brightness --steps 300 --frames 2
    python benchmarks/camera_probe.py --task relative_brightness --steps 300 --frames 2

The VGGT part of configs/synthetic.yaml (aggregator + camera head, no depth, no segmentation) is
trained on the camera loss alone (camera_loss_from_encoding, weight 5, AdamW, one-cycle schedule,
clipping 1.0, 1 thread), batches of 4 sequences of `--frames` views, then scored on held-out images.

Tasks (targets written into the pose encoding; every other component is the identity camera):
  pan                  views are 84 x 84 crops of one rendered frame at horizontal offsets of up
                       to +-28 px (2 patches), i.e. the same picture turned about the camera centre by
                       yaw = atan(offset / f); the target is that exact yaw relative to view 0. The
                       simplest relative pose there is: one global image shift, no parallax.
  frame_brightness     each view is another frame; target 5 (mean brightness - 0.4) of the view itself.
  mean_brightness      target 5 (mean brightness of the sequence - 0.4) for every view (needs the other views).
  relative_brightness  target 5 (brightness of the view - brightness of view 0): relative to the first view.
The score is the relative error of the quaternion's y component (pan) or of the target component
over views 1.. : mean |pred - target| / mean |target|; 1.0 = predicting zero (no turn).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("pan", "frame_brightness", "mean_brightness", "relative_brightness")
CROP, MAX_SHIFT = 84, 28


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=TASKS, default="pan")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--data-root", default=str(ROOT / "data_cache" / "synthetic_sweep"))
    p.add_argument("--set", nargs="*", default=[], help="config overrides, e.g. model.backbone.aggregator.conv_position_embedding=sincos")
    args = p.parse_args(argv)

    import torch

    sys.path.insert(0, str(ROOT / "tools"))
    from _common import experiment_config

    from segvggt.backbone import extri_intri_to_pose_encoding
    from segvggt.backbone.config import VGGTConfig
    from segvggt.backbone.vggt import VGGT
    from segvggt.data.prepared import PreparedScene, read_split
    from segvggt.losses.geometry_losses import camera_loss_from_encoding

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cfg, _ = experiment_config("synthetic", args.set)
    model = VGGT(dataclasses.replace(VGGTConfig.from_dict(cfg.model.backbone), enable_depth=False))

    def frames(split: str, count: int) -> np.ndarray:  # [N, H, W, 3] uint8, every third frame of each scene
        out = []
        for scene_id in read_split(args.data_root, split)[:count]:
            scene = PreparedScene(args.data_root, scene_id)
            out += [scene.color(f) for f in range(0, len(scene.frames), 3)]
        return np.stack(out)

    train, held_out = frames("train", 160), frames("val", 16)
    width = train.shape[2]
    focal = (width / 2) / np.tan(np.deg2rad(67.5) / 2)  # the rooms' mean horizontal FoV

    def sample(pool: np.ndarray, B: int, S: int):
        """-> images [B, S, 3, H, W] in [0, 1], target pose encodings [B, S, 9], the scored component."""
        K = torch.tensor([[focal, 0, CROP / 2], [0, focal, CROP / 2], [0, 0, 1.0]])
        if args.task == "pan":
            images, cams = [], []
            for _ in range(B):
                picture = pool[rng.integers(len(pool))]
                x0 = int(rng.integers(0, width - CROP + 1))
                xs = [x0] + [int(np.clip(x0 + d, 0, width - CROP)) for d in rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, S - 1)]
                images.append(np.stack([picture[:, x : x + CROP] for x in xs]))
                yaw = np.arctan((np.asarray(xs) - xs[0]) / focal)  # content moves left when the camera turns right
                c, s = np.cos(yaw), np.sin(yaw)
                R = np.zeros((S, 3, 3))
                R[:, 0, 0], R[:, 0, 2], R[:, 1, 1], R[:, 2, 0], R[:, 2, 2] = c, -s, 1.0, s, c
                cams.append(np.concatenate([R, np.zeros((S, 3, 1))], axis=2))
            x = torch.tensor(np.stack(images)).permute(0, 1, 4, 2, 3).float() / 255
            enc = extri_intri_to_pose_encoding(torch.tensor(np.stack(cams)).float(), K.expand(B, S, 3, 3), (CROP, CROP))
            return x, enc, 4  # quaternion y
        x = torch.tensor(pool[rng.integers(len(pool), size=(B, S))]).permute(0, 1, 4, 2, 3).float() / 255
        brightness = x.mean(dim=(2, 3, 4))  # [B, S]
        enc = torch.zeros(B, S, 9)
        enc[..., 6], enc[..., 7:] = 1.0, 1.0
        target = {
            "frame_brightness": 5 * (brightness - 0.4),
            "mean_brightness": 5 * (brightness.mean(1, keepdim=True) - 0.4).expand(B, S),
            "relative_brightness": 5 * (brightness - brightness[:, :1]),
        }[args.task]
        enc[..., 4] = target
        return x, enc, 4

    def score(pool: np.ndarray) -> float:
        nonlocal rng
        keep, rng = rng, np.random.default_rng(1)  # the same held-out batches at every report
        model.eval()
        with torch.no_grad():
            x, enc, k = sample(pool, 32, args.frames)
            pred = model(x)["pose_enc"]
        model.train()
        rng = keep
        return float((pred[:, 1:, k] - enc[:, 1:, k]).abs().mean() / enc[:, 1:, k].abs().mean())

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.03)
    start = time.time()
    for step in range(1, args.steps + 1):
        x, enc, _ = sample(train, 4, args.frames)
        losses = camera_loss_from_encoding(model(x)["pose_enc_list"], enc, torch.ones(4, dtype=torch.bool))
        opt.zero_grad()
        (5 * losses["loss_camera"]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps:
            print(f"{args.task} step {step}: relative error held-out {score(held_out):.3f}, training images "
                  f"{score(train):.3f} ({time.time() - start:.0f} s)", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
