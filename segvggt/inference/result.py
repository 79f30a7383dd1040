"""What the Predictor returns: a scene (cameras, maps, point cloud, instances) and prompt answers.

Per-view maps at the ORIGINAL photo resolution (depth, confidence, instance ids, masks) are computed on
demand, one view at a time, on the model's device: 100 phone photos at 12 MP would otherwise hold tens of
GB of maps. The point cloud is unprojected at network resolution (one point per network pixel that shows
the photo and has a valid depth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from segvggt.backbone import ImageRecord
from segvggt.inference.resample import instance_ids_to_original, sample_to_original


@dataclass
class ViewMaps:
    """Network-resolution tensors (on the model's device) from which original-resolution maps are made.

    depth, confidence: [S, H, W]; mask_logits: [N, S, h, w] of the N kept instances (or of prompts);
    scores: [N].
    """

    records: list[ImageRecord]
    depth: Tensor
    confidence: Tensor
    mask_logits: Tensor
    scores: Tensor

    def depth_at_original(self, view: int) -> np.ndarray:
        """[h_o, w_o] float32 metres at the photo's resolution, 0 where preprocessing cropped it away."""
        return sample_to_original(self.depth[view][None], self.records[view])[0].cpu().numpy()

    def confidence_at_original(self, view: int) -> np.ndarray:
        """[h_o, w_o] float32 depth confidence (>= 1 where seen, 0 where cropped away)."""
        return sample_to_original(self.confidence[view][None], self.records[view])[0].cpu().numpy()

    def ids_at_original(self, view: int, mask_threshold: float) -> np.ndarray:
        """[h_o, w_o] int32 instance ids (1..N, 0 = none)."""
        ids = instance_ids_to_original(self.mask_logits[:, view], self.scores, self.records[view], mask_threshold)
        return ids.cpu().numpy()


@dataclass(frozen=True)
class Instance:
    """One 3D instance. `id` is its value in the instance maps and point labels (1..N, best score first).

    points: [M, 3] float32 world points of its pixels (network resolution, every confidence);
    confidence: [M] their depth confidence; pixels_per_view: [S] pixels it owns in each network view.
    """

    id: int
    query: int
    class_index: int
    label_id: int
    class_name: str
    score: float
    points: np.ndarray
    confidence: np.ndarray
    pixels_per_view: np.ndarray


@dataclass
class SceneResult:
    """segment_all's answer for S views.

    cam_from_world: [S, 3, 4] OpenCV; intrinsics: [S, 3, 3] in ORIGINAL photo pixels;
    network_intrinsics: [S, 3, 3] in network pixels (H x W).
    points [M, 3] float32 world, colors [M, 3] uint8, confidence [M], instance_ids [M] int32 (0 = none),
    views [M] int32: the scene point cloud at network resolution.
    """

    names: list[str]
    records: list[ImageRecord]
    cam_from_world: np.ndarray
    intrinsics: np.ndarray
    network_intrinsics: np.ndarray
    points: np.ndarray
    colors: np.ndarray
    confidence: np.ndarray
    instance_ids: np.ndarray
    views: np.ndarray
    instances: list[Instance]
    has_segmentation: bool
    message: str
    mask_threshold: float
    maps: ViewMaps = field(repr=False)

    @property
    def num_views(self) -> int:
        return len(self.names)

    def image_size(self, view: int) -> tuple[int, int]:
        """(height, width) of the original photo."""
        return self.records[view].original_hw

    def depth(self, view: int) -> np.ndarray:
        """[h_o, w_o] float32 depth in metres (VGGT's scale) at the photo's resolution; 0 = not seen."""
        return self.maps.depth_at_original(view)

    def confidence_map(self, view: int) -> np.ndarray:
        """[h_o, w_o] float32 depth confidence at the photo's resolution; 0 = not seen."""
        return self.maps.confidence_at_original(view)

    def instance_map(self, view: int) -> np.ndarray:
        """[h_o, w_o] int32 instance id per photo pixel (0 = none)."""
        return self.maps.ids_at_original(view, self.mask_threshold)

    def instance_mask(self, instance_id: int, view: int) -> np.ndarray:
        """[h_o, w_o] bool mask of one instance on one photo."""
        return self.instance_map(view) == instance_id


@dataclass
class PromptResult:
    """The answer to one click prompt.

    clicks: as given (original pixels); network_clicks: the same in network pixels.
    score: prompt confidence in [0, 1]; mask_logits: [S, h, w] (network mask resolution, model device);
    points [M, 3] float32 world points of its network pixels; pixels_per_view [S].
    """

    clicks: list[tuple[int, float, float, bool]]
    network_clicks: list[tuple[int, float, float, bool]]
    score: float
    mask_logits: Tensor
    points: np.ndarray
    pixels_per_view: np.ndarray
    mask_threshold: float
    records: list[ImageRecord] = field(repr=False)

    def mask(self, view: int) -> np.ndarray:
        """[h_o, w_o] bool mask on the original photo: bilinear logits > logit(mask_threshold)."""
        threshold = math.log(self.mask_threshold / (1 - self.mask_threshold))
        logits = sample_to_original(self.mask_logits[view][None], self.records[view], fill=-math.inf)[0]
        return (logits > threshold).cpu().numpy()


def to_numpy(x: Tensor, dtype=None) -> np.ndarray:
    array = x.detach().to("cpu", torch.float32 if x.is_floating_point() else None).numpy()
    return array.astype(dtype) if dtype is not None else array
