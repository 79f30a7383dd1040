"""What tools/app.py does behind its buttons, without Gradio (so it is testable on its own).

    session = AppSession(predictor, work_dir)
    scene = session.reconstruct(["a.jpg", "b.jpg"])        # or ["room.mp4"]; backbone runs here, once
    answer = session.click(frame=0, x=120, y=80)           # SAM2-style: query heads only, from the cache

`reconstruct` writes the same outputs as tools/infer.py (plus scene.glb, the COLMAP model and nerfstudio's
transforms.json when the cameras allow it) into work_dir/run_<k>/out/ and zips them. Photos are shown at
most DISPLAY px on their longer side; clicks arrive in display pixels and are mapped to original pixels.
One Predictor serves every browser tab: a lock serialises the calls, and a click on a scene that is no
longer the predictor's current one re-encodes it first (the one case where the backbone runs again).
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segvggt.inference.errors import InferenceError

logger = logging.getLogger(__name__)

DISPLAY = 1024
GLB_POINTS = 300_000
PROMPT_COLOUR = np.array([255, 0, 200], np.uint8)


@dataclass
class SceneView:
    """What the page shows after `reconstruct`: files under the run folder."""

    run: int
    names: list[str]
    photos: list[Path]  # display-size photos (the click targets)
    overlays: list[Path]  # display-size photos with the instances drawn
    glb: Path | None
    zip: Path
    message: str
    display_scale: list[tuple[float, float]] = field(repr=False)  # (sx, sy) original / display per view


@dataclass
class ClickView:
    """What the page shows after a click: the prompt's mask on every view and its 3D points."""

    masks: list[Path]  # display-size overlays, one per view
    marked: Path  # the clicked view with its mask and the clicks (green = object, red = background)
    mask_arrays: list[np.ndarray]  # [h_o, w_o] bool at original resolution, one per view
    glb: Path | None
    score: float
    num_points: int
    clicks: list[tuple[int, float, float, bool]]
    message: str


def _resize_to_display(image: np.ndarray, nearest: bool = False) -> np.ndarray:
    from PIL import Image

    h, w = image.shape[:2]
    scale = min(1.0, DISPLAY / max(h, w))
    if scale == 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(image).resize(size, resample))


def _load_photo(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))


def mask_overlay(photo: np.ndarray, mask: np.ndarray, colour: np.ndarray = PROMPT_COLOUR, alpha: float = 0.6) -> np.ndarray:
    """[h, w, 3] uint8: `photo` with `mask` [h, w] bool filled in `colour` and outlined in white."""
    from segvggt.inference.preview import outline

    out = np.where(mask[..., None], (1 - alpha) * photo + alpha * colour, photo).astype(np.uint8)
    out[outline(mask.astype(np.int32))] = 255
    return out


def draw_clicks(image: np.ndarray, points: list[tuple[float, float, bool]]) -> np.ndarray:
    """`image` with a dot at each (x, y, positive) display pixel: green for object clicks, red for background."""
    from PIL import Image, ImageDraw

    out = Image.fromarray(image)
    draw = ImageDraw.Draw(out)
    r = max(3, round(max(image.shape[:2]) / 120))
    for x, y, positive in points:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(40, 200, 40) if positive else (230, 30, 30), outline=(255, 255, 255))
    return np.asarray(out)


class AppSession:
    """Holds one Predictor and the folders of the scenes it reconstructed (see the module docstring)."""

    def __init__(self, predictor, work_dir: str | Path, score_threshold: float = 0.5, conf_percentile: float = 25.0):
        self.predictor = predictor
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.score_threshold = score_threshold
        self.conf_percentile = conf_percentile
        self._lock = threading.Lock()
        self._runs: dict[int, dict] = {}
        self._encoded_run: int | None = None

    # ---- reconstruct ----------------------------------------------------------------------------
    def _inputs(self, files: Sequence[str | Path], folder: Path, fps: float, max_frames: int | None) -> list[Path]:
        from segvggt.inference.inputs import IMAGE_EXTENSIONS, check_view_count, select_frames
        from segvggt.inference.video import VIDEO_EXTENSIONS, extract_frames

        files = [Path(f) for f in files or []]
        videos = [f for f in files if f.suffix.lower() in VIDEO_EXTENSIONS]
        photos = sorted((f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS), key=lambda p: p.name)
        if videos and (photos or len(videos) > 1):
            raise InferenceError("upload either photos of one scene or one video, not both")
        if videos:
            return extract_frames(videos[0], folder / "frames", fps, max_frames)
        if not photos:
            raise InferenceError(f"upload photos ({', '.join(IMAGE_EXTENSIONS)}) or a video ({', '.join(VIDEO_EXTENSIONS)})")
        check_view_count(len(photos), "upload")
        return select_frames(photos, max_frames)

    def reconstruct(self, files: Sequence[str | Path], fps: float = 1.0, max_frames: int | None = None) -> SceneView:
        """Encode the uploaded photos (or video frames), segment, write and zip every output."""
        from PIL import Image

        from segvggt.inference import exports
        from segvggt.inference.inputs import output_names
        from segvggt.inference.pipeline import InferenceOptions, write_outputs
        from segvggt.inference.preview import overlay_instances
        from segvggt.inference.writers import confident_points, instance_palette

        with self._lock:
            run = len(self._runs)
            folder = self.work_dir / f"run_{run}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            paths = self._inputs(files, folder, fps, max_frames)
            names = output_names(paths)
            self.predictor.set_images(paths, names)
            self._encoded_run = run
            result = self.predictor.segment_all(self.score_threshold)
            out = folder / "out"
            out.mkdir()
            formats = exports.EXPORT_FORMATS
            try:
                exports.check_cameras(result, formats)
            except InferenceError as err:
                logger.warning("%s: writing no COLMAP / GLB / nerfstudio exports", err)
                formats = ()
            options = InferenceOptions(conf_percentile=self.conf_percentile, copy_photos=True)
            write_outputs(result, [], out, options, formats)
            archive = Path(shutil.make_archive(str(folder / "segvggt_results"), "zip", root_dir=out))
            palette = instance_palette(len(result.instances))
            (folder / "views").mkdir()
            photos, overlays, scales = [], [], []
            for view, name in enumerate(names):
                photo = _load_photo(paths[view])
                shown = _resize_to_display(photo)
                ids = _resize_to_display(result.instance_map(view).astype(np.int32), nearest=True)
                photos.append(folder / "views" / f"{name}.png")
                overlays.append(folder / "views" / f"{name}.instances.png")
                Image.fromarray(shown).save(photos[-1])
                Image.fromarray(overlay_instances(shown, ids, palette)).save(overlays[-1])
                scales.append((photo.shape[1] / shown.shape[1], photo.shape[0] / shown.shape[0]))
            glb = out / "scene.glb" if (out / "scene.glb").is_file() else None
            keep = confident_points(result, self.conf_percentile)
            self._runs[run] = dict(folder=folder, paths=paths, names=names, result=result, keep=keep, photos=photos,
                                   scales=scales, clicks=[], glb_ok=glb is not None)
        labels = ", ".join(f"{i.id} {i.class_name}" for i in result.instances[:12])
        message = f"{len(names)} views, {int(keep.sum())} points; {result.message}" + (f": {labels}" if labels else "")
        return SceneView(run, names, photos, overlays, glb, archive, message, scales)

    # ---- what the page asks about a run --------------------------------------------------------------
    def _run(self, run: int) -> dict:
        if run not in self._runs:
            raise InferenceError("reconstruct a scene first (upload photos or a video, then press Reconstruct)")
        return self._runs[run]

    def names(self, run: int) -> list[str]:
        return list(self._run(run)["names"])

    def photo(self, run: int, view: int) -> Path:
        """The display-size photo of one view (the click target)."""
        return self._run(run)["photos"][view]

    def clicks(self, run: int) -> list[tuple[int, float, float, bool]]:
        """The clicks of the last answer of this run, in original pixels."""
        return list(self._run(run)["clicks"])

    # ---- click ----------------------------------------------------------------------------------
    def click(self, run: int, frame: int, x: float, y: float, positive: bool = True, add: bool = False) -> ClickView:
        """A click at display pixel (x, y) of view `frame` -> the object's mask on every view and 3D points.

        add=True keeps the previous clicks of this run (positive / negative refinement), else starts anew.
        """
        from PIL import Image

        from segvggt.inference.exports_glb import write_glb

        state = self._run(run)
        if not 0 <= frame < len(state["names"]):
            raise InferenceError(f"view {frame} does not exist; views are 0..{len(state['names']) - 1}")
        sx, sy = state["scales"][frame]
        x_o, y_o = (x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5  # display pixel centre -> original pixel
        clicks = (state["clicks"] if add else []) + [(frame, float(x_o), float(y_o), bool(positive))]
        with self._lock:
            if self._encoded_run != run:  # another tab encoded another scene since: encode this one again
                self.predictor.set_images(state["paths"], state["names"])
                self._encoded_run = run
            answer = self.predictor.segment(clicks)
        state["clicks"] = clicks
        k = sum(1 for _ in (state["folder"] / "clicks").glob("*")) if (state["folder"] / "clicks").is_dir() else 0
        folder = state["folder"] / "clicks" / str(k)
        folder.mkdir(parents=True)
        masks, arrays = [], []
        for view, name in enumerate(state["names"]):
            mask = answer.mask(view)
            arrays.append(mask)
            photo = np.asarray(Image.open(state["photos"][view]))
            shown = _resize_to_display(mask.astype(np.uint8), nearest=True).astype(bool)  # photo's display size
            masks.append(folder / f"{name}.png")
            Image.fromarray(mask_overlay(photo, shown)).save(masks[-1])
        photo = np.asarray(Image.open(state["photos"][frame]))
        shown = _resize_to_display(arrays[frame].astype(np.uint8), nearest=True).astype(bool)
        on_frame = [((cx + 0.5) / sx - 0.5, (cy + 0.5) / sy - 0.5, p) for f, cx, cy, p in clicks if f == frame]
        marked = folder / f"{state['names'][frame]}.clicks.png"
        Image.fromarray(draw_clicks(mask_overlay(photo, shown), on_frame)).save(marked)
        glb = None
        if state["glb_ok"]:
            glb = write_glb(state["result"], folder / "object.glb", state["keep"], GLB_POINTS, highlight=answer.points)
        message = (f"{len(clicks)} click(s), last on {state['names'][frame]} at ({x_o:.0f}, {y_o:.0f}): score "
                   f"{answer.score:.2f}, {len(answer.points)} 3D points, seen in "
                   f"{int((answer.pixels_per_view > 0).sum())} of {len(state['names'])} views")
        return ClickView(masks, marked, arrays, glb, answer.score, len(answer.points), clicks, message)
