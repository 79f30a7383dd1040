"""The whole photo-folder -> output-folder run behind tools/infer.py.

All checks that can fail run before anything is written (options, folder contents, frame count, click
syntax, the output folder rules of output_folder.py, checkpoint, image decoding, memory estimate, click
positions, finite network output). Outputs are then written into a hidden temporary folder next to OUT and
renamed to OUT only when every file is complete, so OUT is either absent or whole, also after Ctrl-C or a
full disk. A tqdm bar counts the stages.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from segvggt.data.errors import DataError
from segvggt.inference import exports, writers
from segvggt.inference.errors import InferenceError
from segvggt.inference.inputs import (
    MIN_VIEWS, check_view_count, list_images, output_names, parse_click_spec, select_frames,
)  # fmt: skip
from segvggt.inference.output_folder import check_out, publish
from segvggt.inference.preview import make_tile, shown_views, write_preview
from segvggt.inference.scale import apply_scale, parse_scale_spec, rescale_prompt

logger = logging.getLogger(__name__)

STAGES = ("checkpoint", "encode", "segment", "maps", "point clouds", "preview", "prompts", "exports")


@dataclass(frozen=True, kw_only=True)
class InferenceOptions:
    """Settings of one run (see tools/infer.py for the command-line spelling)."""

    max_frames: int | None = None
    conf_percentile: float = 25.0
    score_threshold: float = 0.5
    mask_threshold: float = 0.5
    device: str | None = None
    overwrite: bool = False
    progress: bool = True
    exports: tuple[str, ...] = ()  # of exports.EXPORT_FORMATS
    scale_factor: float | None = None  # multiply every length (scale.py)
    scale: str | None = None  # 'frame,x1,y1,x2,y2,METRES' (scale.py)
    copy_photos: bool = False  # OUT/images/ even without an export that needs it (video frames)


@dataclass(frozen=True)
class InferenceSummary:
    out: Path
    num_views: int
    num_instances: int
    num_points: int
    num_prompts: int
    message: str


def check_options(options: InferenceOptions) -> None:
    """InferenceError naming the option when a setting is out of range (NaN included)."""
    checks = (
        ("--conf-percentile", options.conf_percentile, "[0, 100)", lambda v: 0.0 <= v < 100.0),
        ("--score-threshold", options.score_threshold, "[0, 1]", lambda v: 0.0 <= v <= 1.0),
        ("--mask-threshold", options.mask_threshold, "(0, 1)", lambda v: 0.0 < v < 1.0),
    )
    for name, value, interval, ok in checks:
        if not (isinstance(value, (int, float)) and math.isfinite(value) and ok(value)):
            raise InferenceError(f"{name} must lie in {interval}, got {value}")
    if options.max_frames is not None and options.max_frames < MIN_VIEWS:
        raise InferenceError(f"--max-frames {options.max_frames}: a scene needs at least {MIN_VIEWS} frames")


def run_inference(
    images: str | Path, checkpoint: str | Path, out: str | Path, prompts: Sequence[str] = (),
    options: InferenceOptions = InferenceOptions(),
) -> InferenceSummary:
    """Run the Predictor on a folder of photos and write every output into `out` (see writers.py)."""
    from tqdm import tqdm

    from segvggt.inference.predictor import Predictor, resolve_device

    out = Path(out)
    check_options(options)
    resolve_device(options.device)
    paths, _ = list_images(images)
    check_out(out, Path(images), paths, Path(checkpoint), options.overwrite)
    check_view_count(len(paths), str(images))
    paths = select_frames(paths, options.max_frames)
    prompt_clicks = [parse_click_spec(spec) for spec in prompts]
    formats = exports.parse_exports(options.exports)
    scale_clicks = parse_scale_spec(options.scale) if options.scale else None
    if scale_clicks is not None and options.scale_factor is not None:
        raise InferenceError("give either --scale-factor or --scale, not both")
    names = output_names(paths)

    bar = tqdm(total=len(STAGES), desc="inference", unit="stage", disable=not options.progress)
    try:
        bar.set_postfix_str("loading checkpoint")
        predictor = Predictor.from_checkpoint(checkpoint, options.device)
        if prompt_clicks and not predictor.has_segmentation:
            raise InferenceError(f"--prompt needs a SegVGGT checkpoint; {checkpoint} is geometry-only VGGT")
        bar.update()
        bar.set_postfix_str(f"encoding {len(paths)} images")
        predictor.set_images(paths, names)
        bar.update()
        bar.set_postfix_str("segmenting")
        result = predictor.segment_all(options.score_threshold, options.mask_threshold)
        answers = predictor.segment_prompts(prompt_clicks, options.mask_threshold) if prompt_clicks else []
        result, factor = apply_scale(result, options.scale_factor, scale_clicks)
        answers = [rescale_prompt(a, factor) for a in answers]
        exports.check_cameras(result, formats)
        bar.update()
        tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            summary = _write_all(result, answers, tmp, options, bar, formats)
            publish(tmp, out)
        except OSError as err:  # a full disk, a folder removed under us: one line, nothing half-written
            raise DataError(f"cannot write the results to {out} ({err.strerror or err}); nothing was written") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        bar.close()
    logger.info("wrote %s", out)
    return InferenceSummary(out, result.num_views, len(result.instances), summary, len(answers), result.message)


def write_outputs(result, answers, folder: str | Path, options: InferenceOptions = InferenceOptions(),
                  formats: Sequence[str] = ()) -> int:
    """Write every output of a result (and prompt answers) into an existing `folder`, without the temporary
    folder or the progress bar (for callers that hold their own Predictor, e.g. tools/app.py). Returns points."""
    from tqdm import tqdm

    with tqdm(total=len(STAGES), disable=True) as bar:
        return _write_all(result, answers, Path(folder), options, bar, tuple(formats))


def _write_all(result, answers, tmp: Path, options: InferenceOptions, bar, formats: tuple[str, ...] = ()) -> int:
    writers.write_cameras(result, tmp)
    bar.set_postfix_str("depth and masks")
    shown = set(shown_views(result.num_views))
    tiles = []
    for view in range(result.num_views):
        depth, ids = writers.write_view_maps(result, tmp, view)
        if view in shown:
            tiles.append(make_tile(result.names[view], result.records[view].path, depth, ids))
    bar.update()
    bar.set_postfix_str("point clouds")
    keep = writers.confident_points(result, options.conf_percentile)
    writers.write_instances_json(result, tmp, keep)
    num_points = writers.write_point_clouds(result, tmp, keep)
    bar.update()
    bar.set_postfix_str("preview")
    write_preview(tmp / "preview.png", tiles, result, keep)
    bar.update()
    bar.set_postfix_str("prompts")
    for k, answer in enumerate(answers):
        writers.write_prompt(answer, result, tmp, k)
    bar.update()
    bar.set_postfix_str("exports")
    if options.copy_photos:
        exports.write_photos(result, tmp, exports.image_file_names(result))
    exports.write_exports(result, tmp, formats, keep)
    bar.update()
    return num_points
