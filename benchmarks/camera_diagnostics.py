"""What a checkpoint's cameras get wrong on a prepared split: rotation vs translation, and the turn.

    python benchmarks/camera_diagnostics.py --ckpt RUN/last.ckpt --data-root data_cache/synthetic_sweep

AUC@30 is split into its two errors (rotation-only, translation-only, both = `pose_auc30`), and for
every frame j > 0 of a scene the yaw of camera j relative to camera 0 (the turn about the camera's
vertical axis, degrees) is compared between prediction and ground truth: the fraction of frames whose
turn has the right sign, the correlation and the least-squares slope of predicted against true yaw,
and the mean absolute turn of each. A model that has learnt the cameras turns the right way (sign
agreement near 1, slope near 1); one that predicts "no turn" whatever it sees has slope ~0 and a sign
agreement near the share of one turning direction in the split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def relative_yaw_degrees(cam_from_world: np.ndarray) -> np.ndarray:
    """cam_from_world [S, 3, 4] -> [S - 1] yaw of camera j relative to camera 0 (about camera 0's y axis)."""
    def homogeneous(E):
        out = np.eye(4)
        out[:3] = E
        return out

    first = np.linalg.inv(homogeneous(cam_from_world[0]))
    yaws = []
    for E in cam_from_world[1:]:
        R = (homogeneous(E) @ first)[:3, :3]  # cam_j_from_cam_0
        yaws.append(np.degrees(np.arctan2(R[0, 2], R[2, 2])))
    return np.asarray(yaws)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--config", default="synthetic")
    p.add_argument("--split", default="val")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="also write the numbers here")
    args = p.parse_args(argv)

    import torch

    sys.path.insert(0, str(ROOT / "tools"))
    from _common import experiment_config

    from segvggt.backbone import pose_encoding_to_extri_intri
    from segvggt.data.batching import collate_scenes
    from segvggt.data.dataset import SceneDataset
    from segvggt.evaluation.geometry_metrics import pose_auc, relative_pose_errors
    from segvggt.evaluation.run_eval import eval_data_config
    from segvggt.inference.checkpoints import load_model

    torch.set_num_threads(args.threads)
    cfg, _ = experiment_config(args.config, [f"data.root={args.data_root}", f"eval.split={args.split}"])
    data_cfg = eval_data_config(cfg)
    dataset = SceneDataset(data_cfg, data_cfg.val_split, train=False)
    model = load_model(args.ckpt).model.eval()
    rot, trans, yaw_pred, yaw_gt = [], [], [], []
    for index in range(len(dataset)):
        batch = collate_scenes([dataset[dataset.default_key(index)]])
        with torch.no_grad():
            out = model(batch.images, heads=("camera",))
        pred, _ = pose_encoding_to_extri_intri(out["pose_enc"][:1].float(), tuple(batch.images.shape[-2:]))
        gt = batch.cam_from_world[0].float()
        r, t = relative_pose_errors(pred[0], gt)
        rot.append(r)
        trans.append(t)
        yaw_pred.append(relative_yaw_degrees(pred[0].numpy()))
        yaw_gt.append(relative_yaw_degrees(gt.numpy()))
    r, t = torch.cat(rot), torch.cat(trans)
    yp, yg = np.concatenate(yaw_pred), np.concatenate(yaw_gt)
    result = {
        "scenes": len(dataset), "pairs": int(r.numel()),
        "auc30_rotation_only": pose_auc(r, torch.zeros_like(t)), "auc30_translation_only": pose_auc(torch.zeros_like(r), t),
        "auc30": pose_auc(r, t), "median_rotation_error": float(r.median()), "median_translation_error": float(t.median()),
        "turn_sign_agreement": float((np.sign(yp) == np.sign(yg)).mean()),
        "turn_correlation": float(np.corrcoef(yp, yg)[0, 1]), "turn_slope": float(np.polyfit(yg, yp, 1)[0]),
        "mean_abs_turn_true": float(np.abs(yg).mean()), "mean_abs_turn_predicted": float(np.abs(yp).mean()),
    }  # fmt: skip
    for key, value in result.items():
        print(f"{key:28s} {value:.3f}" if isinstance(value, float) else f"{key:28s} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
