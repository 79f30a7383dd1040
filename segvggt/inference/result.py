"""What the Predictor returns: a scene (cameras, maps, point cloud, instances) and prompt answers.

Per-view maps at the ORIGINAL photo resolution (depth, confidence, instance ids, masks) are computed on
demand, one view at a time, on the model's device: 100 phone photos at 12 MP would otherwise hold tens of
GB of maps. The point cloud is unprojected at network resolution (one point per network pixel that shows
the photo and has a valid depth). Lengths are in `SceneResult.units`: VGGT's scene units unless rescaled
(see scale.py); they are not metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from segvggt.backbone import ImageRecord
from segvggt.inference.resample import instance_ids_to_original, sample_to_original

UNITS_VGGT = "VGGT scene units (not metric: the scene is normalised so that points lie about 1 unit from the first camera on average)"


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
        """[h_o, w_o] float32 depth (scene units) at the photo's resolution, 0 where preprocessing cropped it away."""
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
    units: what one unit of length is (UNITS_VGGT unless rescaled with scale.apply_scale).
    Exports: export_colmap / export_glb / export_nerfstudio write the formats of exports.py.
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
    units: str = UNITS_VGGT

    @property
    def num_views(self) -> int:
        return len(self.names)

    def image_size(self, view: int) -> tuple[int, int]:
        """(height, width) of the original photo."""
        return self.records[view].original_hw

    def depth(self, view: int) -> np.ndarray:
        """[h_o, w_o] float32 depth in `units` at the photo's resolution; 0 = not seen."""
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

    # ---- exports (exports.py); conf_percentile drops the least confident points, as tools/infer.py does ----
    def _confident(self, conf_percentile: float) -> np.ndarray:
        from segvggt.inference.writers import confident_points

        return confident_points(self, conf_percentile)

    def export_colmap(self, out, conf_percentile: float = 25.0, copy_photos: bool = True):
        """OUT/colmap/sparse/0/{cameras,images,points3D}.txt (+ .bin with pycolmap) and OUT/images/. Returns the model folder."""
        from pathlib import Path

        from segvggt.inference import exports, exports_colmap

        names = exports.image_file_names(self)
        if copy_photos:
            exports.write_photos(self, Path(out), names)
        return exports_colmap.write_colmap(self, Path(out), self._confident(conf_percentile), names)

    def export_glb(self, path, conf_percentile: float = 25.0):
        """A binary glTF file at `path` (points, instance points, camera frustums, instance boxes). Returns path."""
        from segvggt.inference import exports, exports_glb

        exports.check_package("glb")
        return exports_glb.write_glb(self, path, self._confident(conf_percentile))

    def export_nerfstudio(self, out, copy_photos: bool = True):
        """OUT/transforms.json (+ OUT/images/) for nerfstudio. Returns the json path."""
        from pathlib import Path

        from segvggt.inference import exports, exports_nerfstudio

        names = exports.image_file_names(self)
        if copy_photos:
            exports.write_photos(self, Path(out), names)
        ply = "scene.ply" if (Path(out) / "scene.ply").is_file() else None
        return exports_nerfstudio.write_nerfstudio(self, Path(out), names, ply)

    def rescaled(self, factor: float, units: str | None = None) -> "SceneResult":
        """A copy with every length (cameras' translations, depth, points, instance points) times `factor`."""
        from segvggt.inference.scale import check_factor, rescale_scene

        return rescale_scene(self, check_factor(factor), units or f"{self.units} x {factor:g}")


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


def to_host(tensors: list[Tensor]) -> list[np.ndarray]:
    """Copy device tensors to numpy arrays: all copies queued asynchronously (pinned buffers on CUDA),
    then one synchronisation, instead of one blocking copy per tensor."""
    host = [t.detach().to("cpu", non_blocking=True) for t in tensors]
    if any(t.device.type == "cuda" for t in tensors):
        torch.cuda.synchronize()
    return [h.numpy() for h in host]


def to_numpy(x: Tensor, dtype=None) -> np.ndarray:
    array = x.detach().to("cpu", torch.float32 if x.is_floating_point() else None).numpy()
    return array.astype(dtype) if dtype is not None else array
