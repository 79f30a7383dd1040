"""Photos in, clicks in: which files of a folder are images, which frames to keep, output names, and
clicks in original photo pixels -> network pixels.

Rules (documented for users in the README):
- files whose extension is not an image extension (IMAGE_EXTENSIONS) are ignored with a log message;
  a file WITH an image extension that cannot be decoded is an error naming it (the loader raises it),
  and so is an entry with an image extension that is not a regular file (a broken symlink, a folder,
  a pipe that would block the reader); a symlink to a photo elsewhere is read like the photo;
- a prompt needs at least one positive click (negative clicks only say where the object is NOT, so
  they do not pick an object); `positive` is a bool (or 0 / 1), never a string;
- a scene needs at least MIN_VIEWS photos (VGGT would run on one, but a scene of one view has no
  multi-view geometry and the model was never trained on it);
- `max_frames` keeps that many photos evenly spaced over the (sorted) sequence.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from segvggt.backbone import ImageRecord
from segvggt.data.errors import DataError
from segvggt.inference.errors import InferenceError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MIN_VIEWS = 2

Click = tuple[int, float, float, bool]


def list_images(folder: str | Path) -> tuple[list[Path], list[Path]]:
    """(image files sorted by name, ignored non-image files) of `folder`; DataError if there are no images."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; pass --images a folder of photos (.jpg, .png, ...)")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    for p in entries:
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.is_file():
            what = "a broken symbolic link" if p.is_symlink() and not p.exists() else "not a regular file"
            raise DataError(f"{p}: {what}; remove it from the photo folder or replace it with the photo")
    files = [p for p in entries if p.is_file()]
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    ignored = [p for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS]
    if ignored:
        logger.warning("ignoring %d non-image file(s) in %s: %s", len(ignored), folder, ", ".join(p.name for p in ignored[:5]))
    if not images:
        raise DataError(
            f"{folder}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)}); put at least {MIN_VIEWS} photos of the scene there"
        )
    return images, ignored


def check_view_count(num_views: int, where: str) -> None:
    if num_views < MIN_VIEWS:
        raise DataError(
            f"{where}: only {num_views} image(s); a scene needs at least {MIN_VIEWS} photos taken from different "
            "viewpoints (add more photos of the same scene)"
        )


def select_frames(paths: Sequence[Path], max_frames: int | None) -> list[Path]:
    """At most `max_frames` paths, evenly spaced over the sequence (first and last kept)."""
    if max_frames is None or len(paths) <= max_frames:
        return list(paths)
    if max_frames < MIN_VIEWS:
        raise InferenceError(f"--max-frames {max_frames}: a scene needs at least {MIN_VIEWS} frames")
    picks = sorted({round(i * (len(paths) - 1) / (max_frames - 1)) for i in range(max_frames)})
    logger.info("using %d of %d images (--max-frames %d)", len(picks), len(paths), max_frames)
    return [paths[i] for i in picks]


def output_names(paths: Sequence[str | Path]) -> list[str]:
    """File stems, or full names with '.' -> '_' when two stems collide (a.jpg and a.png)."""
    stems = [Path(p).stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    names = [Path(p).name.replace(".", "_") for p in paths]
    if len(set(names)) != len(names):
        raise DataError("two input images have the same file name; give each photo its own name")
    return names


def clicks_to_network(clicks: Sequence[Click], records: Sequence[ImageRecord], names: Sequence[str]) -> list[Click]:
    """Clicks (frame, x, y, positive) in ORIGINAL pixels of frame `frame` -> the same clicks in network pixels.

    Raises InferenceError naming the click when the frame does not exist, (x, y) lies outside the photo
    (0 <= x < width, 0 <= y < height) or in the part that preprocessing cropped away.
    """
    check_clicks(clicks)
    out = []
    for click in clicks:
        frame, x, y, positive = click
        if not 0 <= int(frame) < len(records):
            raise InferenceError(f"click {tuple(click)!r}: frame {frame} does not exist; frames are 0..{len(records) - 1}")
        record = records[int(frame)]
        h_o, w_o = record.original_hw
        name = names[int(frame)]
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x < w_o and 0 <= y < h_o):
            raise InferenceError(
                f"click {tuple(click)!r}: ({x}, {y}) is outside image {int(frame)} ({name}, {w_o}x{h_o} pixels, x right, y down)"
            )
        u, v = record.from_original(torch.tensor([float(x), float(y)], dtype=torch.float64)).tolist()
        y0, y1, x0, x1 = record.content_box
        if not (x0 - 0.5 <= u < x1 - 0.5 and y0 - 0.5 <= v < y1 - 0.5):
            raise InferenceError(
                f"click {tuple(click)!r}: ({x}, {y}) on image {int(frame)} ({name}) lies in the part that preprocessing "
                "cropped away; click nearer the image centre or use preprocess mode 'pad'"
            )
        H, W = record.final_hw
        out.append((int(frame), min(max(u, 0.0), float(W)), min(max(v, 0.0), float(H)), bool(positive)))
    return out


def _as_finite(value) -> float | None:
    """float(value) for a finite real number (not a bool, not a string), else None."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def check_clicks(clicks: Sequence[Click]) -> None:
    """InferenceError naming the click for a malformed prompt: not (frame, x, y, positive), a frame that is
    not a whole number, x / y not finite numbers, positive not a bool (or 0 / 1), or no positive click."""
    if isinstance(clicks, (str, bytes)) or len(clicks) == 0:
        raise InferenceError("a prompt needs at least one click (frame, x, y, positive)")
    for click in clicks:
        if isinstance(click, (str, bytes)) or not hasattr(click, "__len__") or len(click) != 4:
            raise InferenceError(f"click {click!r}: a click is (frame, x, y, positive)")
        frame, x, y, positive = click
        if _as_finite(frame) is None or not float(frame).is_integer():
            raise InferenceError(f"click {tuple(click)!r}: frame must be a whole number (0-based photo index), got {frame!r}")
        for name, value in (("x", x), ("y", y)):
            if _as_finite(value) is None:
                raise InferenceError(f"click {tuple(click)!r}: {name} must be a finite number of pixels, got {value!r}")
        if not (isinstance(positive, (bool, np.bool_)) or (isinstance(positive, numbers.Integral) and positive in (0, 1))):
            raise InferenceError(f"click {tuple(click)!r}: positive must be True or False (or 1 / 0), got {positive!r}")
    if not any(bool(c[3]) for c in clicks):
        raise InferenceError(
            f"prompt {[tuple(c) for c in clicks]!r} has only negative clicks; add at least one positive click on the "
            "object (negative clicks only mark what is not part of it)"
        )


def parse_click_spec(spec: str) -> list[Click]:
    """'frame,x,y,+' clicks separated by ';' (one prompt) -> [(frame, x, y, positive)]; InferenceError if malformed."""
    clicks = []
    for part in (p.strip() for p in spec.split(";")):
        if not part:
            continue
        fields = [f.strip() for f in part.split(",")]
        if len(fields) != 4 or fields[3] not in ("+", "-", "1", "0", "pos", "neg"):
            raise InferenceError(f"--prompt {spec!r}: each click is 'frame,x,y,+' or 'frame,x,y,-' (clicks separated by ';')")
        try:
            frame, x, y = int(fields[0]), float(fields[1]), float(fields[2])
        except ValueError:
            raise InferenceError(f"--prompt {spec!r}: frame must be an integer and x, y numbers (pixels of the original photo)") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise InferenceError(f"--prompt {spec!r}: x and y must be finite numbers (pixels of the original photo)")
        clicks.append((frame, x, y, fields[3] in ("+", "1", "pos")))
    if not clicks:
        raise InferenceError(f"--prompt {spec!r}: no clicks given")
    if not any(c[3] for c in clicks):
        raise InferenceError(f"--prompt {spec!r}: only negative clicks; add at least one positive click 'frame,x,y,+' on the object")
    return clicks
