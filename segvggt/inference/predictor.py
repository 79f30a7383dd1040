"""Predictor: load a checkpoint, encode a set of photos once, then answer segment_all and click prompts.

    predictor = Predictor.from_checkpoint("last.ckpt")          # or export.safetensors, or VGGT model.pt
    predictor.set_images(sorted(Path("photos").glob("*.jpg")))  # backbone runs here, once
    scene = predictor.segment_all(score_threshold=0.5)          # cameras, depth, points, instances
    answer = predictor.segment([(0, 812.0, 455.0, True)])       # click on photo 0 (original pixels)

Shapes: S views, H, W network pixels, h, w = H/2, W/2, N instances, M points.
Clicks are (frame, x, y, positive) in pixels of the ORIGINAL photo (x right, y down); they are mapped to
network pixels through each photo's `ImageRecord`. `segment` reuses the cached encoding: only the query
blocks and heads run, never the backbone; the object queries run once per encoding (their cache is
made at the first segment_all or click) and a click then runs only its prompt queries, replayed as a
CUDA graph on GPUs. On a GPU the weights are bf16 where the numerics allow (precision.py); see
docs/inference_scale.md.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from segvggt.backbone import ImageRecord, load_and_preprocess_images
from segvggt.data.classes import benchmark_classes
from segvggt.data.errors import DataError
from segvggt.inference import postprocess as pp
from segvggt.inference.checkpoints import LoadedModel, load_model
from segvggt.inference.click_graph import ClickDecoder
from segvggt.inference.errors import InferenceError
from segvggt.inference.inputs import Click, check_view_count, clicks_to_network, output_names
from segvggt.inference.mask_logits import MaskLogits
from segvggt.inference.memory import check_memory
from segvggt.inference.precision import prepare_bf16, resolve_precision
from segvggt.inference.resample import content_masks
from segvggt.inference.result import Instance, PromptResult, SceneResult, ViewMaps, to_host, to_numpy
from segvggt.segmentation.prompts import parse_prompts

logger = logging.getLogger(__name__)

GEOMETRY_ONLY_MESSAGE = (
    "official VGGT weights: geometry only (cameras, depth, points); instance segmentation needs a SegVGGT checkpoint"
)


@dataclass
class _Scene:
    """Everything set_images computes once (tensors on the model's device)."""

    images: Tensor  # [1, S, 3, H, W]
    records: list[ImageRecord]
    names: list[str]
    encoded: object | None  # segmentation.segvggt.Encoded (None for geometry-only VGGT)
    cam_from_world: Tensor  # [S, 3, 4]
    intrinsics: Tensor  # [S, 3, 3] network pixels
    depth: Tensor  # [S, H, W]
    confidence: Tensor  # [S, H, W]
    points: Tensor  # [S, H, W, 3]
    valid: Tensor  # [S, H, W] bool: shows the photo and has a finite, positive depth
    content: Tensor  # [S, H, W] bool: shows the photo
    cache: object | None = None  # segmentation.query_cache.ObjectQueryCache, made at the first answer
    clicks: ClickDecoder | None = None  # answers clicks on this encoding (a CUDA graph on GPUs)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None -> cuda when available, else cpu; InferenceError for a device this machine does not have."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InferenceError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InferenceError(f"device {device} requested but CUDA is not available on this machine; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InferenceError(f"device {device}: this machine has {torch.cuda.device_count()} GPU(s), cuda:0 .. "
                                 f"cuda:{torch.cuda.device_count() - 1}")  # fmt: skip
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise InferenceError(f"device {device} requested but MPS is not available on this machine; use --device cpu")
    elif device.type != "cpu":
        raise InferenceError(f"device {device}: only cpu, cuda and mps are supported")
    return device


def _check_image_tensor(images: Tensor) -> None:
    """The network input contract of `Predictor.preprocess`: float RGB in [0, 1], no NaN / inf."""
    if not torch.is_floating_point(images):
        raise InferenceError(f"image tensor has dtype {images.dtype}; give floats in [0, 1] (uint8 photos: x.float() / 255)")
    if not bool(torch.isfinite(images).all()):
        raise InferenceError("image tensor holds NaN or inf values; give finite floats in [0, 1]")
    lo, hi = float(images.min()), float(images.max())
    if lo < 0.0 or hi > 1.0:
        raise InferenceError(f"image tensor values lie in [{lo:g}, {hi:g}]; give RGB in [0, 1] (0-255 images: divide by 255)")


def _check_finite_output(outputs: dict, keys: Sequence[str], source: str) -> None:
    """InferenceError naming the checkpoint when the network produced NaN / inf (broken or diverged weights)."""
    bad = [k for k in keys if k in outputs and not bool(torch.isfinite(outputs[k]).all())]
    if bad:
        raise InferenceError(
            f"{source}: the network output holds NaN or inf values ({', '.join(bad)}); the checkpoint's weights are "
            "broken (e.g. a diverged training run) - use an earlier or another checkpoint"
        )


def _check_threshold(name: str, value: float, open_interval: bool) -> None:
    ok = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not ok:
        raise InferenceError(f"{name} must lie in {'(0, 1)' if open_interval else '[0, 1]'}, got {value}")


class Predictor:
    """Encode once, prompt many. See the module docstring."""

    def __init__(
        self, loaded: LoadedModel, device: str | torch.device | None = None, precision: str = "auto",
        click_graphs: bool = True,
    ) -> None:
        """precision: "auto" (bf16 weights and autocast on CUDA GPUs with bf16, fp16 autocast on older GPUs,
        fp32 elsewhere), "bf16" or "fp32"; see precision.py. The model is moved, frozen (requires_grad off) and in
        bf16 mode cast, in place.
        click_graphs: answer clicks by replaying CUDA graphs (CUDA only; see click_graph.py)."""
        self.device = resolve_device(device)
        self.loaded = loaded
        self.autocast_dtype = resolve_precision(precision, self.device)
        self.model = loaded.model.to(self.device).eval().requires_grad_(False)
        if self.autocast_dtype == torch.bfloat16:
            prepare_bf16(self.model)
        self.click_graphs = click_graphs
        self.classes = benchmark_classes(loaded.benchmark) if loaded.benchmark else None
        self._scene: _Scene | None = None

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device | None = None, vggt_config: dict | None = None
    ) -> "Predictor":
        """A SegVGGT Lightning .ckpt, weights from `export_weights` (.safetensors) or an official VGGT file
        (built as VGGT-1B unless `vggt_config` gives another backbone config)."""
        return cls(load_model(path, vggt_config), device)

    @classmethod
    def from_pretrained(
        cls, repo_id: str, filename: str | None = None, device: str | torch.device | None = None,
        revision: str | None = None, vggt_config: dict | None = None,
    ) -> "Predictor":
        """Weights from the Hugging Face Hub, e.g. "org/name" (its model.safetensors, else model.pt) or
        ("facebook/VGGT-1B", "model.pt"); cached by huggingface_hub, HF_HUB_OFFLINE honoured (see segvggt.hub)."""
        from segvggt.hub import hub_download, is_hub_spec, parse_hub_spec

        if is_hub_spec(repo_id):
            repo_id, filename_in_spec, revision_in_spec = parse_hub_spec(repo_id)
            filename, revision = filename or filename_in_spec, revision or revision_in_spec
        return cls.from_checkpoint(hub_download(repo_id, filename, revision), device, vggt_config)

    @property
    def has_segmentation(self) -> bool:
        return self.loaded.has_segmentation

    @property
    def num_views(self) -> int:
        return 0 if self._scene is None else len(self._scene.names)

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    # ---- images -------------------------------------------------------------------------------
    def preprocess(self, images, names: Sequence[str] | None = None) -> tuple[Tensor, list[ImageRecord], list[str]]:
        """paths -> the backbone loader; a tensor [S, 3, H, W] or [1, S, 3, H, W] in [0, 1] (H, W multiples of the
        patch size) is taken as the network input itself. Returns (images [S, 3, H, W], records, names)."""
        if isinstance(images, Tensor):
            x = images[0] if images.dim() == 5 and images.shape[0] == 1 else images
            if x.dim() != 4 or x.shape[1] != 3:
                raise InferenceError(f"image tensor must be [S, 3, H, W] or [1, S, 3, H, W] in [0, 1], got {tuple(images.shape)}")
            _check_image_tensor(x)
            patch = self._patch_size()
            if x.shape[-2] % patch or x.shape[-1] % patch:
                raise InferenceError(f"image tensor size {tuple(x.shape[-2:])} must be a multiple of {patch}; use image paths to resize")
            H, W = int(x.shape[-2]), int(x.shape[-1])
            names = list(names) if names is not None else [f"frame_{i:03d}" for i in range(x.shape[0])]
            if len(names) != x.shape[0] or len(set(names)) != len(names):
                raise InferenceError(f"names: give {x.shape[0]} distinct names, one per image, got {names!r}")
            records = [ImageRecord(n, (H, W), (H, W), (0, 0), (H, W)) for n in names]
            return x.float(), records, names
        if isinstance(images, (str, Path)):
            raise InferenceError(f"set_images({str(images)!r}): give a list of photo paths (or a tensor), not one path; "
                                 "e.g. sorted(Path(folder).glob('*.jpg'))")  # fmt: skip
        paths = [Path(p) for p in images]
        x, records = load_and_preprocess_images(paths, mode=self.loaded.preprocess_mode, target_size=self.loaded.image_size)
        return x, records, list(names) if names is not None else output_names(paths)

    def _patch_size(self) -> int:
        vggt = getattr(self.model, "vggt", self.model)
        return vggt.cfg.patch_size

    def set_images(self, images, names: Sequence[str] | None = None, memory_check: bool = True) -> None:
        """Preprocess `images` (paths or a tensor, see `preprocess`) and run the backbone once.

        Raises DataError for unreadable photos or fewer than 2 views, InferenceError when the estimated memory
        does not fit the device (the message suggests --max-frames).
        """
        x, records, names = self.preprocess(images, names)
        check_view_count(x.shape[0], "input")
        S, _, H, W = x.shape
        if memory_check:
            check_memory(self.model, S, H, W, self.device, 2 if self.autocast_dtype is not None else 4)
        batch = x.to(self.device)[None]
        self._scene = None
        with torch.no_grad(), self._autocast():
            if self.has_segmentation:
                encoded = self.model.encode(batch)
                geometry = encoded.geometry
            else:
                encoded, geometry = None, self.model(batch)
        _check_finite_output(geometry, ("pose_enc", "depth", "depth_conf"), self.loaded.source)
        if encoded is not None:
            _check_finite_output({"instance_features": encoded.instance_features}, ("instance_features",),
                                 self.loaded.source)  # fmt: skip
        self._scene = self._geometry(batch, records, names, encoded, geometry)

    def _geometry(self, batch: Tensor, records, names, encoded, geometry: dict) -> _Scene:
        H, W = batch.shape[-2:]
        cam_from_world, intrinsics = pp.cameras_from_pose_encoding(geometry["pose_enc"][0], (H, W))
        depth = geometry["depth"][0, ..., 0].float()
        confidence = geometry["depth_conf"][0].float()
        points = pp.world_points(depth, cam_from_world, intrinsics)
        content = content_masks(records, self.device)
        valid = content & (depth > 0) & torch.isfinite(points).all(-1)
        return _Scene(batch, list(records), list(names), encoded, cam_from_world, intrinsics, depth, confidence,
                      points, valid, content)

    def _require_scene(self) -> _Scene:
        if self._scene is None:
            raise InferenceError("no images set: call set_images(...) first")
        return self._scene

    # ---- answers ------------------------------------------------------------------------------
    def segment_all(self, score_threshold: float = 0.5, mask_threshold: float = 0.5) -> SceneResult:
        """Cameras, depth, point cloud and the instances whose score >= score_threshold (see SceneResult)."""
        _check_threshold("score_threshold", score_threshold, open_interval=False)
        _check_threshold("mask_threshold", mask_threshold, open_interval=True)
        scene = self._require_scene()
        S = len(scene.names)
        if self.has_segmentation:
            with torch.no_grad():
                ids, logits, scores, queries, labels = self._instances(scene, score_threshold, mask_threshold)
            message = f"{scores.numel()} instance(s) with score >= {score_threshold}"
        else:
            h, w = scene.depth.shape[-2] // 2, scene.depth.shape[-1] // 2
            ids = torch.zeros_like(scene.depth, dtype=torch.int32)
            logits = scene.depth.new_zeros(0, S, h, w)
            scores = scene.depth.new_zeros(0)
            queries = labels = torch.zeros(0, dtype=torch.long, device=self.device)
            message = GEOMETRY_ONLY_MESSAGE
        N = int(scores.numel())
        with torch.no_grad():
            cloud = pp.point_cloud_to_host(scene.points, scene.confidence, scene.images[0], scene.valid, ids, N)
        scores_np, queries_np, labels_np = to_host([scores, queries, labels])
        label_ids = self.classes.label_of(labels_np) if N else np.zeros(0, np.int64)
        instances = [
            Instance(
                id=n + 1, query=int(queries_np[n]), class_index=int(labels_np[n]), label_id=int(label_ids[n]),
                class_name=self.classes.instance_names[int(labels_np[n])], score=float(scores_np[n]),
                points=cloud.instance_points[n], confidence=cloud.instance_confidence[n],
                pixels_per_view=cloud.pixels_per_view[n],
            )
            for n in range(N)  # per instance bookkeeping on host arrays only; the pixel work is vectorised
        ]  # fmt: skip
        records = scene.records
        intrinsics = scene.intrinsics.cpu()
        K_original = torch.stack([r.intrinsics_to_original(intrinsics[i]) for i, r in enumerate(records)])
        return SceneResult(
            names=list(scene.names), records=list(records),
            cam_from_world=to_numpy(scene.cam_from_world), intrinsics=K_original.numpy(),
            network_intrinsics=intrinsics.numpy(), points=cloud.points, colors=cloud.colors,
            confidence=cloud.confidence, instance_ids=cloud.instance_ids, views=cloud.views, instances=instances,
            has_segmentation=self.has_segmentation, message=message, mask_threshold=mask_threshold,
            maps=ViewMaps(records, scene.depth, scene.confidence, logits, scores),
        )  # fmt: skip

    def _object_cache(self, scene: _Scene):
        """The object queries of this encoding (once per set_images; see SegVGGT.object_query_cache)."""
        if scene.cache is None:
            with torch.no_grad(), self._autocast():
                cache = self.model.object_query_cache(scene.encoded)
            _check_finite_output({"object_queries": cache.queries}, ("object_queries",), self.loaded.source)
            scene.cache = cache
        return scene.cache

    def _instances(self, scene: _Scene, score_threshold: float, mask_threshold: float):
        """-> ids [S, H, W] int32, logits [N, S, h, w] (MaskLogits), scores [N], query index [N], class index [N]
        (kept, best first). Mask logits are made a chunk of frames at a time from the query embeddings."""
        cache = self._object_cache(scene)
        heads = self.model.query_heads
        with self._autocast():
            pred_logits = heads.class_logits(cache.queries)[0].float()  # [Q, K+1]
            embed = heads.mask_embedding(cache.queries)[0]  # [Q, D]
        masks = MaskLogits(embed, scene.encoded.instance_features[0])  # [Q, S, h, w]
        queries, labels, scores = pp.select_instances(pred_logits, masks, score_threshold, mask_threshold)
        logits = masks[queries]
        H, W = scene.depth.shape[-2:]
        ids = pp.mask_to_network(pp.assign_mask_pixels(logits, scores, mask_threshold), (H, W))
        ids = torch.where(scene.content, ids, torch.zeros_like(ids))
        ids, kept = pp.drop_empty_instances(ids, int(scores.numel()))
        return ids, logits[kept], scores[kept], queries[kept], labels[kept]

    def segment(self, clicks: Sequence[Click], mask_threshold: float = 0.5) -> PromptResult:
        """Answer one prompt: clicks (frame, x, y, positive) in original pixels -> PromptResult."""
        return self.segment_prompts([clicks], mask_threshold)[0]

    def segment_prompts(self, prompts: Sequence[Sequence[Click]], mask_threshold: float = 0.5) -> list[PromptResult]:
        """Answer several prompts at once (each is decoded independently of the others, see SegVGGT.decode)."""
        _check_threshold("mask_threshold", mask_threshold, open_interval=True)
        scene = self._require_scene()
        if not self.has_segmentation:
            raise InferenceError(f"cannot answer click prompts with {self.loaded.source}: {GEOMETRY_ONLY_MESSAGE}")
        if not prompts:
            return []
        network = [clicks_to_network(list(p), scene.records, scene.names) for p in prompts]
        H, W = scene.depth.shape[-2:]
        out = self._click_decoder(scene)(parse_prompts([network], 1, len(scene.names), (H, W), self.device))
        _check_finite_output(out, ("prompt_masks", "prompt_scores"), self.loaded.source)
        masks = out["prompt_masks"][0].float()  # [R, S, h, w]
        scores = out["prompt_scores"][0].float().sigmoid()
        results = []
        threshold = float(np.log(mask_threshold / (1 - mask_threshold)))
        for r, clicks in enumerate(prompts):  # per prompt (R is small); pixel work is vectorised inside
            on = torch.zeros_like(scene.valid)
            for s0, s1 in pp.frame_chunks(len(scene.names), H * W):
                up = torch.nn.functional.interpolate(masks[r, s0:s1, None], size=(H, W), mode="bilinear", align_corners=False)
                on[s0:s1] = up[:, 0] > threshold
            on &= scene.content
            results.append(PromptResult(
                clicks=[tuple(c) for c in clicks], network_clicks=network[r], score=float(scores[r]),
                mask_logits=masks[r], points=to_numpy(scene.points[on & scene.valid]),
                pixels_per_view=to_numpy(on.flatten(1).sum(1)), mask_threshold=mask_threshold,
                records=list(scene.records),
            ))  # fmt: skip
        return results

    def _click_decoder(self, scene: _Scene) -> ClickDecoder:
        if scene.clicks is None:
            cache = self._object_cache(scene)
            scene.clicks = ClickDecoder(self.model, scene.encoded, cache, self.autocast_dtype, self.click_graphs)
        return scene.clicks


def load_error_types() -> tuple[type[Exception], ...]:
    """The exceptions that carry a user-facing one-line message (for tools to catch)."""
    from segvggt.backbone import CheckpointError

    return (DataError, CheckpointError, InferenceError)
