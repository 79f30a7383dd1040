"""A ScanNet200 model scored on a ScanNet++ scene: class-agnostic AP on every instance, class-aware AP
through the label map over the classes it reaches; plus the prompt and consistency metrics end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from segvggt.backbone.pose_encoding import extri_intri_to_pose_encoding
from segvggt.data.batching import collate_scenes
from segvggt.data.classes import benchmark_classes
from segvggt.data.config import DataConfig
from segvggt.data.dataset import SceneDataset
from segvggt.data.prepared import write_scene, write_split
from segvggt.evaluation.config import EvalConfig
from segvggt.evaluation.scene_eval import SceneEvaluator

H, W = 28, 42
BOXES = {1: ("table", np.s_[2:14, 2:14]), 2: ("sofa", np.s_[14:26, 16:28]), 3: ("slippers", np.s_[2:14, 28:40])}


def _label(benchmark, name):
    c = benchmark_classes(benchmark)
    return c.instance_ids[c.instance_names.index(name)]


@pytest.fixture
def scannetpp_root(tmp_path):
    """Two identical views of a plane at 2 m holding three 12 x 12 boxes; one benchmark point per pixel."""
    root = tmp_path / "scannetpp"
    K = np.array([[30.0, 0, (W - 1) / 2], [0, 30.0, (H - 1) / 2], [0, 0, 1]])
    ids = np.zeros((H, W), np.int64)
    for inst, (_, box) in BOXES.items():
        ids[box] = inst
    labels = {inst: _label("scannetpp", name) for inst, (name, _) in BOXES.items()}
    v, u = np.mgrid[0:H, 0:W]
    points = np.stack([(u - K[0, 2]) / K[0, 0] * 2.0, (v - K[1, 2]) / K[1, 1] * 2.0, np.full(u.shape, 2.0)], -1)
    gt = np.where(ids > 0, np.vectorize(lambda i: labels.get(i, 0))(ids) * 1000 + ids, 0).reshape(-1)
    write_scene(
        root, "pp0", benchmark="scannetpp", source="test", frame_names=["000000", "000001"],
        colors=[np.full((H, W, 3), 128, np.uint8)] * 2, depths=[np.full((H, W), 2.0, np.float32)] * 2,
        instances=[ids, ids], cam_from_world=np.repeat(np.eye(3, 4)[None], 2, 0),
        intrinsics=np.repeat(K[None], 2, 0), instance_labels=labels, points=points.reshape(-1, 3),
        superpoints=np.arange(H * W), point_gt=gt, color_format="png",
    )  # fmt: skip
    write_split(root, "val", ["pp0"])
    return root


class ScanNet200Oracle(nn.Module):
    """Stands in for a ScanNet200 SegVGGT: one query per box with a chosen ScanNet200 class, and
    prompt masks equal to the clicked object."""

    def __init__(self, batch, classes_of_boxes):
        super().__init__()
        self.ids = batch.instance_ids  # [B, S, H, W]
        self.batch = batch
        self.classes = classes_of_boxes
        self.k = benchmark_classes("scannet200").num_classes

    def _mask_logits(self, inst):  # [S, h, w] logits of one instance at mask resolution
        onehot = (self.ids[0] == inst).float()[:, None]
        return ((torch.nn.functional.avg_pool2d(onehot, 2)[:, 0] - 0.5) * 12.0)

    def encode(self, images):
        return images

    def decode(self, encoded, prompts=None):
        c200 = benchmark_classes("scannet200")
        b = self.batch
        if prompts is not None:
            masks = []
            for frame, x, y, _ in (p[0] for p in prompts[0]):
                masks.append(self._mask_logits(int(self.ids[0, frame, int(y), int(x)])))
            return {"prompt_masks": torch.stack(masks)[None]}
        logits = torch.full((len(self.classes), self.k + 1), -8.0)
        masks = []
        for q, (inst, name) in enumerate(self.classes.items()):
            logits[q, c200.instance_names.index(name)] = 8.0
            masks.append(self._mask_logits(inst))
        hw = (b.images.shape[-2], b.images.shape[-1])
        pose = extri_intri_to_pose_encoding(b.cam_from_world, b.intrinsics, hw)
        return {"pred_logits": logits[None], "pred_masks": torch.stack(masks)[None],
                "depth": b.depth[..., None], "pose_enc": pose}  # fmt: skip


def _evaluate(root, classes_of_boxes, **eval_kw):
    data = DataConfig(root=str(root), benchmark="scannetpp", fixed_aspect=2 / 3, image_size=42, val_frames=0)
    ds = SceneDataset(data, "val", train=False)
    batch = collate_scenes([ds[ds.default_key(0)]])
    evaluator = SceneEvaluator(data, EvalConfig(frame_stride=1, max_frames=0, **eval_kw), model_benchmark="scannet200")
    evaluator.update(ScanNet200Oracle(batch, classes_of_boxes), batch)
    return evaluator.compute(), evaluator.per_class()


def test_zero_shot_agnostic_and_mapped_class_aware_ap(scannetpp_root):
    # table -> table, couch -> sofa (synonym), guitar has no ScanNet++ class (the box is 'slippers')
    metrics, per_class = _evaluate(scannetpp_root, {1: "table", 2: "couch", 3: "guitar"})
    assert metrics["agnostic_ap"] == pytest.approx(1.0)  # all three boxes found, labels aside
    assert metrics["ap"] == pytest.approx(1.0)  # over the reached classes with GT: table, sofa
    assert len(per_class) == 64 and "slippers" not in per_class and per_class["sofa"]["ap"] == pytest.approx(1.0)
    # a wrong mapped label costs class-aware AP but not class-agnostic AP
    metrics, per_class = _evaluate(scannetpp_root, {1: "table", 2: "bed", 3: "guitar"})
    assert metrics["agnostic_ap"] == pytest.approx(1.0)
    assert per_class["sofa"]["ap"] == 0.0 and metrics["ap"] == pytest.approx(0.5)


def test_perfect_masks_score_one_on_prompts_and_consistency(scannetpp_root):
    metrics, _ = _evaluate(scannetpp_root, {1: "table", 2: "couch", 3: "guitar"}, ranking="topk_pairs")
    for key in ("prompt_miou", "prompt_frame_iou", "prompt_positive_iou", "prompt_successful_iou",
                "prompt_success_rate", "prompt_consistency", "instance_consistency"):  # fmt: skip
        assert metrics[key] == pytest.approx(1.0), key
    assert metrics["agnostic_ap"] == pytest.approx(1.0)  # per query even when class-aware AP ranks pairs


def test_eval_tool_scores_a_scannet200_checkpoint_on_scannetpp(scannetpp_root, tmp_path, capsys):
    """tools/eval.py --config <ScanNet++> --ckpt <ScanNet200>: no refusal, the JSON says what was done."""
    import json

    from helpers import tools_on_path

    tools_on_path()
    import eval as eval_tool
    from _common import experiment_config

    from segvggt.inference.checkpoints import export_weights
    from segvggt.segmentation.segvggt import SegVGGT

    cfg, _ = experiment_config("tiny", ["data.benchmark=scannet200", "model.num_classes=198"])
    torch.manual_seed(0)
    ckpt = export_weights(SegVGGT.from_config(cfg.model), tmp_path / "scannet200.safetensors",
                          benchmark="scannet200", image_size=42)  # fmt: skip
    out = tmp_path / "zero_shot.json"
    code = eval_tool.main([
        "--config", "tiny", "--ckpt", str(ckpt), "--data-root", str(scannetpp_root), "--json", str(out),
        "--device", "cpu", "--set", "data.benchmark=scannetpp", "model.num_classes=84", "data.image_size=42",
        "data.fixed_aspect=0.6667", "eval.max_frames=0",
    ])  # fmt: skip
    assert code == 0
    assert "zero-shot" in capsys.readouterr().out
    result = json.loads(out.read_text())
    z = result["zero_shot"]
    assert (z["model_benchmark"], z["data_benchmark"], z["target_classes"]) == ("scannet200", "scannetpp", 84)
    assert len(z["reached_classes"]) == 64 and "slippers" in z["unreached_classes"]
    assert len(result["per_class"]) == 64  # class-aware AP over the reached classes only
    assert 0.0 <= result["metrics"]["agnostic_ap"] <= 1.0  # defined: the scene has ScanNet++ instances
