"""How far a checkpoint's click masks are from what its own masks allow (not a test).

On the held-out split of a run, with the evaluation's clicks (MV-SAM protocol: the same objects and
seeded clicks as `tools/eval.py`), the mean IoU of one prompt's masks over all views, for:
  prompt            the prompt query's masks (what `tools/eval.py` reports as prompt_miou);
  click_selected    the mask among the prompt's and the Q object queries' that agrees best with the
                    clicks (positives inside minus negatives inside, as fractions), the prompt's on ties;
  oracle_object     the object query whose masks have the highest IoU with the ground truth;
  oracle_threshold  the prompt's masks at the best of the thresholds 0.2 ... 0.7 for that prompt.
The two oracles read the ground truth: they are ceilings, not methods.

    python benchmarks/click_ceiling.py --run runs/synthetic-... [--data-root data_cache/synthetic_sweep]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def click_agreement(mask: torch.Tensor, clicks: list) -> float:
    """mask [S, h, w] bool at half the input size; clicks (frame, x, y, positive) in input pixels ->
    share of positives inside - share of negatives inside."""
    S, h, w = mask.shape
    inside = {True: [], False: []}
    for frame, x, y, positive in clicks:
        inside[positive].append(bool(mask[frame, min(int(y) // 2, h - 1), min(int(x) // 2, w - 1)]))
    return sum(inside[True]) / max(len(inside[True]), 1) - sum(inside[False]) / max(len(inside[False]), 1)


@torch.no_grad()
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a run folder (config.yaml, last.ckpt)")
    parser.add_argument("--data-root", help="data.root, if not the run's")
    args = parser.parse_args()
    from _common import experiment_config

    from segvggt.data.batching import collate_scenes
    from segvggt.data.dataset import SceneDataset
    from segvggt.evaluation.prompt_metrics import prompt_iou
    from segvggt.evaluation.run_eval import eval_data_config
    from segvggt.evaluation.scene_eval import scene_prompts
    from segvggt.inference.checkpoints import load_model

    run = Path(args.run)
    cfg, _ = experiment_config(str(run / "config.yaml"), [f"data.root={args.data_root}"] if args.data_root else [])
    model = load_model(run / "last.ckpt").model.eval()
    data_cfg = eval_data_config(cfg)
    dataset = SceneDataset(data_cfg, data_cfg.val_split, train=False)
    th = cfg.eval.mask_threshold
    ious: dict[str, list[float]] = {k: [] for k in ("prompt", "click_selected", "oracle_object", "oracle_threshold")}
    for index in range(len(dataset)):
        batch = collate_scenes([dataset[dataset.default_key(index)]])
        clicks, rows = scene_prompts(batch.instance_ids[0], batch.targets[0].instance_ids, batch.scene_ids[0], cfg.eval)
        if not rows:
            continue
        encoded = model.encode(batch.images)
        objects = model.decode(encoded)["pred_masks"][0].float().sigmoid()  # [Q, S, h, w]
        prompts = model.decode(encoded, [clicks])["prompt_masks"][0, : len(rows)].float().sigmoid()  # [R, S, h, w]
        gt = batch.targets[0].masks[rows] > 0.5  # [R, S, h, w]

        def iou(mask: torch.Tensor, r: int) -> float:
            return float(prompt_iou(mask[None], gt[r : r + 1])[0])

        for r in range(len(rows)):
            own = prompts[r] > th
            candidates = [own] + list(objects > th)
            agreement = [click_agreement(m, clicks[r]) for m in candidates]
            best = max(range(len(candidates)), key=lambda i: (agreement[i], i == 0))  # the prompt's on ties
            ious["prompt"].append(iou(own, r))
            ious["click_selected"].append(iou(candidates[best], r))
            ious["oracle_object"].append(max(iou(m, r) for m in candidates[1:]))
            ious["oracle_threshold"].append(max(iou(prompts[r] > t, r) for t in THRESHOLDS))
    count = len(ious["prompt"])
    print(f"{run}: {count} prompts on {len(dataset)} held-out scenes, Q = {objects.shape[0]} object queries")
    for name, values in ious.items():
        print(f"  {name:<17} mIoU {sum(values) / max(count, 1):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
