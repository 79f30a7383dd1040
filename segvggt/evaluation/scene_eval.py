"""Evaluate SegVGGT on prepared scenes: instance AP on the benchmark points (after lifting the
multi-view masks), depth and camera metrics, and click-prompt metrics.

Used by validation during training, by tools/eval.py and by the end of `tools/train.py`.
Pure torch + the torchmetrics InstanceAP metric; no Lightning.
"""

from __future__ import annotations

import math
import zlib
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
from segvggt.evaluation.consistency import multiview_consistency
from segvggt.evaluation.lifting import (
    LiftConfig, LiftedInstances, lift_ground_truth_masks, lift_ranked, select_geometry,
)  # fmt: skip
from segvggt.evaluation.metric import InstanceAP
from segvggt.evaluation.prompt_metrics import PROMPT_KEYS, per_prompt_metrics, prompt_objects, seeded_clicks
from segvggt.types import SceneBatch


def scene_key(scene_id: str) -> int:
    """A stable integer per scene id (seeds the scene's prompt objects and clicks)."""
    return zlib.crc32(scene_id.encode())


def scene_prompts(instance_ids, target_ids, scene_id: str, cfg: EvalConfig) -> tuple[list[list], list[int]]:
    """MV-SAM protocol for one scene: up to N random objects (>= 0.1 % of a view, seeded by scene), each
    prompted with seeded positive + negative clicks spread over the views.

    instance_ids [S, H, W] per-pixel ids, target_ids [N] the targets' instance ids -> (clicks per
    prompted object, their row indices into the targets)."""
    key = scene_key(scene_id)
    rows = prompt_objects(instance_ids, target_ids, cfg.prompt_instances_per_scene, cfg.seed, key)
    clicks = [seeded_clicks(instance_ids, int(target_ids[r]), cfg.prompt_positive_clicks, cfg.prompt_negative_clicks,
                            cfg.seed, key) for r in rows]  # fmt: skip
    return clicks, rows


class SceneEvaluator:
    """Accumulates metrics over batches of scenes; `compute()` returns plain floats.

    Keys: ap, ap50, ap25 (class-aware, ScanNet protocol on the scene points, predictions ranked by
    `eval.ranking`), agnostic_ap, agnostic_ap50, agnostic_ap25 (one prediction per query: a mask
    listed under several labels would only add duplicates), depth_abs_rel, depth_delta1, pose_auc30 (and the trivial guesses
    pose_auc30_identity, pose_auc30_constant_translation),
    instance_consistency (MastSAM, automatic instances), prompt_miou, prompt_macc (MV-SAM),
    prompt_frame_iou, prompt_positive_iou, prompt_successful_iou (3AM), prompt_success_rate,
    prompt_consistency (MastSAM, prompts). With `oracle=True` the ground-truth 2D masks are lifted
    instead of predictions (the protocol's ceiling) and only the AP keys are filled.

    Zero-shot (`model_benchmark` differs from the data's benchmark, e.g. a ScanNet200 model on
    ScanNet++): masks are lifted with the model's classes, class-agnostic AP counts every prediction,
    and class-aware AP relabels predictions through `segvggt.data.label_maps` and averages over the
    target classes the map reaches (predictions without a target class are left out of it).
    """

    def __init__(
        self, data_cfg: DataConfig, eval_cfg: EvalConfig, oracle: bool = False, model_benchmark: str | None = None
    ):
        self.root = Path(data_cfg.root)
        self.benchmark = data_cfg.benchmark
        self.classes = benchmark_classes(data_cfg.benchmark)
        self.model_classes = benchmark_classes(model_benchmark or data_cfg.benchmark)
        self.label_map = None
        if self.model_classes.name != self.benchmark:
            from segvggt.data.label_maps import label_map

            self.label_map = label_map(self.model_classes.name, self.benchmark)
        self.eval_cfg = eval_cfg
        self.oracle = oracle
        self.lift_cfg = LiftConfig(
            depth_tolerance=eval_cfg.depth_tolerance, mask_threshold=eval_cfg.mask_threshold,
            top_k=eval_cfg.top_k, min_score=eval_cfg.score_threshold, ranking=eval_cfg.ranking,
        )  # fmt: skip
        self._scenes: dict[str, PreparedScene] = {}
        self.reset()

    def reset(self) -> None:
        aware = self.label_map.restricted_target() if self.label_map is not None else None
        self.ap = InstanceAP(self.benchmark, classes=aware)
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
            aware, agnostic = self._lift(scene, batch, b, out, hw)
            gt, excluded = scene.point_gt(), scene.excluded_vertices()  # excluded: ScanNet++'s mesh mask
            self.ap.update(gt, aware.masks, aware.labels, aware.scores, excluded)
            self.ap_agnostic.update(gt, agnostic.masks, agnostic.labels, agnostic.scores, excluded)
            if submission_dir is not None:
                write_submission(submission_dir, scene_id, aware.masks, aware.labels, aware.scores)
            if out is None:
                continue
            self._geometry(out, batch, b, hw)
            self._instance_consistency(out, batch, b)
            if prompt_out is not None and len(prompt_gt[b]):
                self._prompt_metrics(prompt_out, batch, b, prompt_gt[b])

    def _lift(
        self, scene: PreparedScene, batch: SceneBatch, b: int, out: dict | None, hw
    ) -> tuple[LiftedInstances, LiftedInstances]:
        """(class-aware predictions, class-agnostic predictions) of scene b, both in data label ids."""
        aware, agnostic = self._lift_model_labels(scene, batch, b, out, hw)
        if self.label_map is None or out is None:  # the oracle lifts ground truth: already data labels
            return aware, agnostic
        return _relabel(aware, self.label_map.apply(aware.labels)), _relabel(
            agnostic, np.full(len(agnostic.labels), self.classes.instance_ids[0], np.int64), keep_all=True
        )

    def _lift_model_labels(self, scene: PreparedScene, batch: SceneBatch, b: int, out: dict | None, hw):
        cams, depth, K = batch.cam_from_world[b], batch.depth[b], batch.intrinsics[b]
        points, superpoints = scene.points(), scene.superpoints()
        if out is None:
            lifted = lift_ground_truth_masks(
                batch.instance_ids[b], scene.instance_labels, cams, K, depth, points, superpoints,
                self.lift_cfg, label_ids=self.classes.instance_ids,
            )  # fmt: skip
            return lifted, lifted
        if self.eval_cfg.geometry == "predicted":
            from segvggt.backbone import pose_encoding_to_extri_intri

            pred_cams, K_pred = pose_encoding_to_extri_intri(out["pose_enc"][b : b + 1].float(), hw)
            cams, depth = select_geometry("predicted", cams, depth, pred_cams[0], out["depth"][b, ..., 0].float())
            K = K_pred[0]
        rankings = (self.eval_cfg.ranking, "per_query")
        lifted = lift_ranked(
            out["pred_logits"][b].float(), out["pred_masks"][b].float(), cams, K, depth, points, superpoints,
            self.model_classes, self.lift_cfg, rankings=tuple(dict.fromkeys(rankings)),
        )  # fmt: skip
        return lifted[self.eval_cfg.ranking], lifted["per_query"]

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
        """MV-SAM protocol: up to N random objects per scene (>= 0.1 % of a view, seeded by scene),
        each prompted with seeded positive + negative clicks spread over the views."""
        prompts, targets = [], []
        for b, t in enumerate(batch.targets):
            clicks, rows = scene_prompts(batch.instance_ids[b], t.instance_ids, batch.scene_ids[b], self.eval_cfg)
            prompts.append(clicks)
            targets.append(rows)
        return prompts, targets

    def _consistency(self, vectors: torch.Tensor, batch: SceneBatch, b: int) -> float:
        """MastSAM consistency of mask vectors [S, h, w, C] of scene b on its ground-truth geometry."""
        return multiview_consistency(
            vectors, batch.depth[b].float(), batch.cam_from_world[b].float(), batch.intrinsics[b].float(),
            epsilon=self.eval_cfg.consistency_epsilon, max_sources=self.eval_cfg.consistency_max_sources,
        )  # fmt: skip

    def _instance_consistency(self, out: dict, batch: SceneBatch, b: int) -> None:
        """Automatic instances: each pixel's one-hot id under the inference assignment rule."""
        from segvggt.inference.postprocess import assign_mask_pixels, select_instances

        logits, masks = out["pred_logits"][b].float(), out["pred_masks"][b].float()
        cfg = self.eval_cfg
        order, _, scores = select_instances(logits, masks, cfg.score_threshold, cfg.mask_threshold)
        ids = assign_mask_pixels(masks[order], scores, cfg.mask_threshold)  # [S, h, w]
        self.values["instance_consistency"].append(self._consistency(ids, batch, b))

    def _prompt_metrics(self, prompt_out: dict, batch: SceneBatch, b: int, target_rows: list[int]) -> None:
        R = len(target_rows)
        pred = prompt_out["prompt_masks"][b, :R].float().sigmoid() > self.eval_cfg.mask_threshold  # [R, S, h, w]
        gt = batch.targets[b].masks[target_rows] > 0.5
        per = per_prompt_metrics(pred.cpu(), gt.cpu())
        for k in PROMPT_KEYS:
            self.values[f"prompt_{k}"].extend(float(v) for v in per[k])  # one value per prompt
        self.values["prompt_consistency"].append(self._consistency(pred.permute(1, 2, 3, 0), batch, b))

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


def _relabel(lifted: LiftedInstances, labels: np.ndarray, keep_all: bool = False) -> LiftedInstances:
    """Predictions with new label ids; those mapped to -1 are dropped unless keep_all."""
    keep = np.ones(len(labels), bool) if keep_all else labels >= 0
    return LiftedInstances(lifted.masks[keep], labels[keep], lifted.scores[keep], lifted.source_index[keep])
