"""Scene scale: VGGT's lengths are not metres, and `--scale-factor F` / `--scale "frame,x1,y1,x2,y2,METRES"` fix that.

VGGT predicts geometry only up to a global scale: it was trained on scenes normalised so that the points lie
on average about one unit from the first camera (UNITS_VGGT). Multiplying every length by one factor F keeps
the reconstruction consistent: camera translations, depth maps, world points and instance boxes scale by F,
rotations and intrinsics do not. `--scale` measures F from two clicks on one photo whose real distance is
known: each click is lifted to 3D with that photo's depth and camera, and F = METRES / |p1 - p2|.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from segvggt.inference.errors import InferenceError
from segvggt.inference.result import UNITS_VGGT, PromptResult, SceneResult, ViewMaps

__all__ = ["UNITS_VGGT", "ScaleClicks", "apply_scale", "parse_scale_spec", "rescale_prompt", "rescale_scene"]


@dataclass(frozen=True)
class ScaleClicks:
    """Two clicks (original pixels, x right, y down) on photo `frame` that lie `metres` apart in the world."""

    frame: int
    first: tuple[float, float]
    second: tuple[float, float]
    metres: float


def parse_scale_spec(text: str) -> ScaleClicks:
    """'frame,x1,y1,x2,y2,METRES' -> ScaleClicks; InferenceError when malformed."""
    usage = "--scale expects 'frame,x1,y1,x2,y2,METRES': two clicks on photo `frame` that are METRES apart"
    fields = [f.strip() for f in text.split(",")]
    if len(fields) != 6:
        raise InferenceError(f"{usage}; got {text!r}")
    try:
        frame = int(fields[0])
        x1, y1, x2, y2, metres = (float(f) for f in fields[1:])
    except ValueError:
        raise InferenceError(f"{usage} (frame an integer, the rest numbers); got {text!r}") from None
    if not (math.isfinite(metres) and metres > 0):
        raise InferenceError(f"--scale {text!r}: the known distance must be a positive number of metres, got {fields[5]}")
    if (x1, y1) == (x2, y2):
        raise InferenceError(f"--scale {text!r}: the two clicks are the same pixel; click both ends of the known length")
    return ScaleClicks(frame, (x1, y1), (x2, y2), metres)


def check_factor(factor: float) -> float:
    if not (math.isfinite(factor) and factor > 0):
        raise InferenceError(f"--scale-factor must be a positive number, got {factor}")
    return float(factor)


def lift_click(result: SceneResult, frame: int, x: float, y: float) -> np.ndarray:
    """World point [3] under pixel (x, y) of photo `frame` (its nearest pixel's depth); InferenceError if unseen."""
    if not 0 <= frame < result.num_views:
        raise InferenceError(f"--scale: frame {frame} does not exist; frames are 0..{result.num_views - 1}")
    h, w = result.image_size(frame)
    if not (0 <= x < w and 0 <= y < h):
        raise InferenceError(f"--scale: ({x}, {y}) is outside image {frame} ({result.names[frame]}, {w}x{h} pixels)")
    depth = result.depth(frame)[min(int(round(y)), h - 1), min(int(round(x)), w - 1)]
    if not depth > 0:
        raise InferenceError(f"--scale: ({x}, {y}) on image {frame} has no depth (cropped away by preprocessing); "
                             "click nearer the image centre")
    K = result.intrinsics[frame].astype(np.float64)
    p_cam = depth * np.linalg.solve(K, np.array([x, y, 1.0]))
    R, t = result.cam_from_world[frame, :, :3].astype(np.float64), result.cam_from_world[frame, :, 3].astype(np.float64)
    return R.T @ (p_cam - t)


def factor_from_clicks(result: SceneResult, clicks: ScaleClicks) -> float:
    """METRES / (scene distance between the two lifted clicks)."""
    p1 = lift_click(result, clicks.frame, *clicks.first)
    p2 = lift_click(result, clicks.frame, *clicks.second)
    distance = float(np.linalg.norm(p1 - p2))
    if distance <= 1e-9:
        raise InferenceError("--scale: both clicks land on the same 3D point; click two points farther apart")
    return clicks.metres / distance


def rescale_scene(result: SceneResult, factor: float, units: str) -> SceneResult:
    """A copy of `result` with every length multiplied by `factor` (see the module docstring)."""
    cams = result.cam_from_world.copy()
    cams[:, :, 3] *= factor
    maps = result.maps
    scaled_maps = ViewMaps(maps.records, maps.depth * factor, maps.confidence, maps.mask_logits, maps.scores)
    instances = [dataclasses.replace(inst, points=inst.points * np.float32(factor)) for inst in result.instances]
    return dataclasses.replace(result, cam_from_world=cams, points=result.points * np.float32(factor),
                               instances=instances, maps=scaled_maps, units=units)


def rescale_prompt(answer: PromptResult, factor: float) -> PromptResult:
    """A copy of a prompt answer with its 3D points scaled by `factor`."""
    return dataclasses.replace(answer, points=answer.points * np.float32(factor))


def apply_scale(result: SceneResult, factor: float | None = None, clicks: ScaleClicks | None = None) -> tuple[SceneResult, float]:
    """(rescaled result, factor) for --scale-factor or --scale (at most one); (result, 1.0) for neither."""
    if factor is not None and clicks is not None:
        raise InferenceError("give either --scale-factor or --scale, not both")
    if clicks is not None:
        factor = factor_from_clicks(result, clicks)
        units = (f"metres (scaled x{factor:.6g} so that clicks {clicks.first} and {clicks.second} on image "
                 f"{clicks.frame} lie {clicks.metres:g} m apart)")
    elif factor is not None:
        factor = check_factor(factor)
        units = f"VGGT scene units x {factor:g} (--scale-factor)"
    else:
        return result, 1.0
    return rescale_scene(result, factor, units), factor
