"""Evaluate a model (or the oracle) on every scene of a prepared split, one scene per forward pass."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from segvggt.data.batching import collate_scenes
from segvggt.data.dataset import SceneDataset
from segvggt.evaluation.scene_eval import SceneEvaluator

logger = logging.getLogger(__name__)


def eval_data_config(cfg):
    """The DataConfig used for evaluation: no augmentation, the eval split, frame stride and frame cap
    (validation during training selects frames the same way: SceneDataModule.for_experiment)."""
    return dataclasses.replace(
        cfg.data, val_split=cfg.eval.split, val_frame_stride=cfg.eval.frame_stride, val_frames=cfg.eval.max_frames,
        color_jitter=0.0, random_crop=False,
    )  # fmt: skip


def inference_autocast(device: torch.device):
    """bf16 autocast on a CUDA device that supports it (fp16 otherwise), as VGGT's inference; none on CPU.

    The one precision rule of evaluation: tools/eval.py and the end of tools/train.py share it."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def evaluate_model(
    model: nn.Module | None,
    cfg,
    *,
    oracle: bool = False,
    submission_dir: str | Path | None = None,
    progress: bool = False,
    device: torch.device | str | None = None,
    return_details: bool = False,
    model_benchmark: str | None = None,
):
    """Metrics over the evaluation split of `cfg` (an ExperimentConfig).

    Every scene is evaluated with min(ceil(len(scene) / frame_stride), eval.max_frames or all) frames
    taken every `eval.frame_stride` frames, at the validation image size (`SceneDataset.default_key`).
    `model_benchmark`: the benchmark the model was trained on when it differs from the data's
    (zero-shot, see SceneEvaluator).
    Returns a dict of floats (see SceneEvaluator) plus `num_scenes`; with return_details also
    (per-class table, frames used per scene).
    """
    data_cfg = eval_data_config(cfg)
    dataset = SceneDataset(data_cfg, data_cfg.val_split, train=False)
    evaluator = SceneEvaluator(data_cfg, cfg.eval, oracle=oracle, model_benchmark=model_benchmark)
    if model is not None:
        device = torch.device(device) if device is not None else next(model.parameters()).device
    scenes = range(len(dataset))
    if cfg.eval.max_scenes > 0:
        scenes = range(min(len(dataset), cfg.eval.max_scenes))
    submission = Path(submission_dir) if submission_dir else None
    autocast = inference_autocast(torch.device(device) if device is not None else torch.device("cpu"))
    for index in tqdm(scenes, desc="evaluating scenes", disable=not progress):
        sample = dataset[dataset.default_key(index)]
        batch = collate_scenes([sample])
        if model is not None:
            batch = batch.to(device)
        with autocast:
            evaluator.update(model, batch, submission_dir=submission)
    metrics = evaluator.compute()
    metrics["num_scenes"] = len(scenes)
    if return_details:
        return metrics, evaluator.per_class(), evaluator.frames
    return metrics
