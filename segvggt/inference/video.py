"""Video input: `tools/infer.py --video room.mp4 [--fps 1] [--max-frames N]` turns a video into photos.

PyAV (the `video` extra) decodes: its wheels carry their own FFmpeg libraries (decoders for H.264, HEVC,
VP9, AV1, ... and the x264 encoder the tests use), so nothing from the system is needed, and decoding runs
in-process with each frame's own timestamp (variable frame rate phone videos sample correctly) and the
rotation phones store in the display matrix. imageio-ffmpeg would run a bundled ffmpeg executable through
a pipe and report only the container's nominal frame rate.

Sampling: the first frame at or after each multiple of 1/fps seconds (fps 1 = one photo per second, as
VGGT's demo), then at most `max_frames` of those, evenly spaced. Frames are saved upright as
`frame_000123.jpg`, 123 being the frame's number in the video (0-based, display order), so every output
names the moment of the video it comes from.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from segvggt.data.errors import DataError
from segvggt.inference.errors import InferenceError
from segvggt.inference.inputs import MIN_VIEWS, select_frames

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".3gp")
JPEG_QUALITY = 95


def frame_name(index: int) -> str:
    return f"frame_{index:06d}"


def _av():
    try:
        import av
    except ImportError:
        raise InferenceError("--video needs PyAV: pip install 'segvggt[video]'") from None
    return av


def _open(path: Path):
    av = _av()
    if not path.is_file():
        raise DataError(f"{path}: video file not found")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read video ({type(err).__name__}: {str(err)[:160]}); give an .mp4/.mov/.webm file") from None
    if not container.streams.video:
        container.close()
        raise DataError(f"{path}: holds no video stream")
    return container


def frame_times(path: Path) -> np.ndarray:
    """[F] seconds of every frame in display order (from the packets' timestamps, without decoding)."""
    av = _av()
    with _open(path) as container:
        stream = container.streams.video[0]
        try:
            pts = [p.pts for p in container.demux(stream) if p.size > 0]
        except av.FFmpegError as err:
            raise DataError(f"{path}: cannot read video ({type(err).__name__}: {str(err)[:160]})") from None
        if any(p is None for p in pts):  # raw streams without timestamps: count decoded frames at the nominal rate
            container.seek(0)
            rate = float(stream.average_rate or stream.guessed_rate or 1)
            return np.arange(sum(1 for _ in container.decode(stream)), dtype=np.float64) / rate
        start = stream.start_time or 0
        return (np.sort(np.asarray(pts, np.float64)) - start) * float(stream.time_base)


def sample_frames(times: np.ndarray, fps: float, max_frames: int | None) -> list[int]:
    """Indices (into display order) of the frames to keep: the first at/after each k / fps, then <= max_frames."""
    if not (math.isfinite(fps) and fps > 0):
        raise InferenceError(f"--fps must be a positive number of frames per second, got {fps}")
    picks, next_time = [], -math.inf
    for index, t in enumerate(times):
        if t >= next_time - 1e-6:
            picks.append(index)
            next_time = (math.floor(t * fps + 1e-6) + 1) / fps
    return select_frames(picks, max_frames)


def extract_frames(video: str | Path, folder: str | Path, fps: float = 1.0, max_frames: int | None = None) -> list[Path]:
    """Decode the sampled frames of `video` into `folder` as upright JPEGs; returns their paths in order.

    DataError for a missing/unreadable video or fewer than MIN_VIEWS sampled frames (the message suggests a
    higher --fps).
    """
    av = _av()
    from PIL import Image

    video, folder = Path(video), Path(folder)
    times = frame_times(video)
    wanted = sample_frames(times, fps, max_frames)
    if len(wanted) < MIN_VIEWS:
        duration = float(times[-1]) if len(times) else 0.0
        raise DataError(f"{video}: {len(times)} frame(s) over {duration:.1f} s give {len(wanted)} photo(s) at --fps {fps:g}; "
                        f"a scene needs at least {MIN_VIEWS}: raise --fps or use a longer video")
    folder.mkdir(parents=True, exist_ok=True)
    wanted_set, paths, index = set(wanted), [], 0
    with _open(video) as container:
        try:
            for frame in container.decode(container.streams.video[0]):  # decoded frames come in display order
                if index in wanted_set:
                    rgb = frame.to_ndarray(format="rgb24")
                    turns = int(round((getattr(frame, "rotation", 0) or 0) / 90)) % 4  # counter-clockwise quarter turns
                    path = folder / f"{frame_name(index)}.jpg"
                    Image.fromarray(np.ascontiguousarray(np.rot90(rgb, turns))).save(path, quality=JPEG_QUALITY)
                    paths.append(path)
                index += 1
                if len(paths) == len(wanted):
                    break
        except av.FFmpegError as err:
            raise DataError(f"{video}: decoding failed at frame {index} ({type(err).__name__}: {str(err)[:160]})") from None
    logger.info("%s: %d of %d frames (fps %g%s)", video, len(paths), len(times), fps,
                f", max {max_frames}" if max_frames else "")
    return paths


def run_video_inference(video: str | Path, checkpoint, out: str | Path, prompts=(), options=None, fps: float = 1.0):
    """tools/infer.py --video: sample frames into a hidden folder beside OUT, run `run_inference` on them (the
    frames are kept as OUT/images/frame_*.jpg), remove the hidden folder. Returns the InferenceSummary."""
    import dataclasses
    import os
    import shutil

    from segvggt.inference import exports, scale
    from segvggt.inference.output_folder import check_out
    from segvggt.inference.pipeline import InferenceOptions, run_inference

    options = options or InferenceOptions()
    out = Path(out)
    check_out(out, Path(video), [Path(video)], Path(checkpoint), options.overwrite)
    exports.parse_exports(options.exports)  # fail on bad options before decoding a long video
    if options.scale:
        scale.parse_scale_spec(options.scale)
    frames = out.parent / f".{out.name}.frames-{os.getpid()}"
    shutil.rmtree(frames, ignore_errors=True)
    try:
        extract_frames(video, frames, fps, options.max_frames)
        return run_inference(frames, checkpoint, out, prompts, dataclasses.replace(options, max_frames=None, copy_photos=True))
    finally:
        shutil.rmtree(frames, ignore_errors=True)
