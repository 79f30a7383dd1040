"""Evaluate SegVGGT on prepared scenes: instance AP on the benchmark points (after lifting the
multi-view masks), depth and camera metrics, and click-prompt metrics.

Used by validation during training, by tools/eval.py and by the end of `tools/train.py`.
Pure torch + the torchmetrics InstanceAP metric; no Lightning.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from segvggt.data.classes import benchmark_classes
from segvggt.data.config import DataConfig
from segvggt.data.prepared import PreparedScene
from segvggt.evaluation.config import EvalConfig
from segvggt.evaluation.geometry_metrics import depth_metrics, pose_baselines, pose_metrics
from segvggt.evaluation.lifting import LiftConfig, lift_ground_truth_masks, lift_predictions, select_geometry
from segvggt.evaluation.metric import InstanceAP
from segvggt.evaluation.prompt_metrics import multiview_consistency, prompt_metrics, seeded_clicks
from segvggt.types import SceneBatch


class SceneEvaluator:
    """Accumulates metrics over batches of scenes; `compute()` returns plain floats.

    Keys: ap, ap50, ap25 (class-aware, ScanNet protocol on the scene points), agnostic_ap,
    agnostic_ap50, agnostic_ap25, depth_abs_rel, depth_delta1, pose_auc30 (and the trivial guesses
    pose_auc30_identity, pose_auc30_constant_translation), prompt_miou,
    prompt_macc, prompt_positive_iou, prompt_success_rate, prompt_successful_iou, prompt_consistency.
    With `oracle=True` the ground-truth 2D masks are lifted instead of predictions (the protocol's
    ceiling) and only the AP keys are filled.
    """

    def __init__(self, data_cfg: DataConfig, eval_cfg: EvalConfig, oracle: bool = False):
        self.root = Path(data_cfg.root)
        self.benchmark = data_cfg.benchmark
        self.classes = benchmark_classes(data_cfg.benchmark)
        self.eval_cfg = eval_cfg
        self.oracle = oracle
        self.lift_cfg = LiftConfig(
            depth_tolerance=eval_cfg.depth_tolerance, mask_threshold=eval_cfg.mask_threshold,
            top_k=eval_cfg.top_k, min_score=eval_cfg.score_threshold,
        )  # fmt: skip
        self._scenes: dict[str, PreparedScene] = {}
        self.reset()

    def reset(self) -> None:
        self.ap = InstanceAP(self.benchmark)
        self.ap_agnostic = InstanceAP(self.benchmark, class_agnostic=True)
        self.values: dict[str, list[float]] = defaultdict(list)
        self.frames: dict[str, list[str]] = {}

    def _scene(self, scene_id: str) -> PreparedScene:
        if scene_id not in self._scenes:
            self._scenes[scene_id] = PreparedScene(self.root, scene_id)
        return self._scenes[scene_id]

    @torch.no_grad()
    def update(self, model: nn.Module | None, batch: SceneBatch, submission_dir: Path | None = None) -> None:
        """Evaluate one batch (the model runs in eval mode, then its mode is restored)."""
        from segvggt.evaluation.submission import write_submission

        out, prompt_out, prompt_gt = None, None, None
        if not self.oracle:
            was_training = model.training
            model.eval()
            encoded = model.encode(batch.images)
            out = model.decode(encoded)
            prompts, prompt_gt = self._prompts(batch)
            if any(prompts):
                prompt_out = model.decode(encoded, prompts)
            model.train(was_training)
        hw = tuple(batch.images.shape[-2:])
        # Metric states must live where the batch is: NCCL (multi-GPU DDP) cannot sync CPU tensors.
        self.ap.to(batch.images.device)
        self.ap_agnostic.to(batch.images.device)
        for b, scene_id in enumerate(batch.scene_ids):
            scene = self._scene(scene_id)
            self.frames[scene_id] = list(batch.frame_names[b])
            lifted = self._lift(scene, batch, b, out, hw)
            gt = scene.point_gt()
            self.ap.update(gt, lifted.masks, lifted.labels, lifted.scores)
            self.ap_agnostic.update(gt, lifted.masks, lifted.labels, lifted.scores)
            if submission_dir is not None:
                write_submission(submission_dir, scene_id, lifted.masks, lifted.labels, lifted.scores)
            if out is None:
                continue
            self._geometry(out, batch, b, hw)
            if prompt_out is not None and len(prompt_gt[b]):
                self._prompt_metrics(prompt_out, batch, b, prompt_gt[b])

    def _lift(self, scene: PreparedScene, batch: SceneBatch, b: int, out: dict | None, hw):
        cams, depth, K = batch.cam_from_world[b], batch.depth[b], batch.intrinsics[b]
        points, superpoints = scene.points(), scene.superpoints()
        if out is None:
            return lift_ground_truth_masks(
                batch.instance_ids[b], scene.instance_labels, cams, K, depth, points, superpoints,
                self.lift_cfg, label_ids=self.classes.instance_ids,
            )  # fmt: skip
        if self.eval_cfg.geometry == "predicted":
            from segvggt.backbone import pose_encoding_to_extri_intri

            pred_cams, K_pred = pose_encoding_to_extri_intri(out["pose_enc"][b : b + 1].float(), hw)
            cams, depth = select_geometry("predicted", cams, depth, pred_cams[0], out["depth"][b, ..., 0].float())
            K = K_pred[0]
        return lift_predictions(
            out["pred_logits"][b].float(), out["pred_masks"][b].float(), cams, K, depth, points, superpoints,
            self.classes, self.lift_cfg,
        )  # fmt: skip

    def _geometry(self, out: dict, batch: SceneBatch, b: int, hw) -> None:
        from segvggt.backbone import pose_encoding_to_extri_intri

        d = depth_metrics(out["depth"][b, ..., 0].float(), batch.depth[b].float())
        self.values["depth_abs_rel"].append(d["abs_rel"])
        self.values["depth_delta1"].append(d["delta1"])
        if batch.num_views > 1:
            pred_cams, _ = pose_encoding_to_extri_intri(out["pose_enc"][b : b + 1].float(), hw)
            self.values["pose_auc30"].append(pose_metrics(pred_cams[0], batch.cam_from_world[b].float())["auc@30"])
            for name, auc in pose_baselines(batch.cam_from_world[b]).items():  # what a trivial guess scores
                self.values[f"pose_auc30_{name}"].append(auc)

    def _prompts(self, batch: SceneBatch) -> tuple[list[list], list[list[int]]]:
        """Seeded clicks (positive + negative, spread over views) for up to N instances per scene."""
        cfg = self.eval_cfg
        prompts, targets = [], []
        for b, t in enumerate(batch.targets):
            ids = t.instance_ids.tolist()[: cfg.prompt_instances_per_scene]
            prompts.append([
                seeded_clicks(batch.instance_ids[b], inst, cfg.prompt_positive_clicks, cfg.prompt_negative_clicks, cfg.seed)
                for inst in ids
            ])  # fmt: skip
            targets.append(list(range(len(ids))))
        return prompts, targets

    def _prompt_metrics(self, prompt_out: dict, batch: SceneBatch, b: int, target_rows: list[int]) -> None:
        R = len(target_rows)
        pred = prompt_out["prompt_masks"][b, :R].float().sigmoid() > self.eval_cfg.mask_threshold  # [R, S, h, w]
        gt = batch.targets[b].masks[target_rows] > 0.5
        m = prompt_metrics(pred.cpu(), gt.cpu())
        for k in ("miou", "macc", "positive_iou", "success_rate", "successful_iou"):
            self.values[f"prompt_{k}"].extend([m[k]] * R)  # weight scenes by their number of prompts
        for r in range(R):
            self.values["prompt_consistency"].append(
                multiview_consistency(pred[r], batch.depth[b].float(), batch.cam_from_world[b].float(),
                                      batch.intrinsics[b].float(), stride=2)
            )  # fmt: skip

    def compute(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if int(self.ap.num_scenes) > 0:
            for prefix, metric in (("", self.ap), ("agnostic_", self.ap_agnostic)):
                for k, v in metric.compute().items():
                    out[prefix + k] = float(v)
        for k, vals in self.values.items():
            finite = [v for v in vals if isinstance(v, float) and not math.isnan(v)]
            out[k] = float(np.mean(finite)) if finite else math.nan
        return out

    def per_class(self) -> dict:
        """Per-class AP table of the last `compute()` (class name -> {ap, ap50, ap25})."""
        result = self.ap.result()
        return {
            name: {"ap": float(a), "ap50": float(a50), "ap25": float(a25)}
            for name, a, a50, a25 in zip(
                result.class_names, result.per_class_ap, result.per_class_ap50, result.per_class_ap25
            )
        }
