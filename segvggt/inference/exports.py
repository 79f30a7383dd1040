"""`--export colmap,glb,nerfstudio`: which formats exist, the photo copies they point at, and one call that
writes the chosen ones into an output folder.

    OUT/images/<file>                    the photos as displayed (EXIF rotation applied), for COLMAP / nerfstudio
    OUT/colmap/sparse/0/*.txt (.bin)     exports_colmap.py
    OUT/scene.glb                        exports_glb.py
    OUT/transforms.json                  exports_nerfstudio.py
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segvggt.inference.errors import InferenceError
from segvggt.inference.result import SceneResult

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("colmap", "glb", "nerfstudio")
_NEEDS_PHOTOS = ("colmap", "nerfstudio")
_PACKAGES = {"glb": ("trimesh", "export")}


def parse_exports(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """'colmap,glb' (or a list) -> ('colmap', 'glb'); InferenceError naming an unknown format or missing package."""
    if not text:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    formats = []
    for item in (i.strip().lower() for i in items):
        if not item:
            continue
        if item not in EXPORT_FORMATS:
            raise InferenceError(f"--export {item!r}: unknown format; choose from {', '.join(EXPORT_FORMATS)} (comma-separated)")
        if item not in formats:
            formats.append(item)
    for item in formats:
        check_package(item)
    return tuple(formats)


def check_package(fmt: str) -> None:
    """InferenceError when the optional package a format needs is not installed."""
    if fmt not in _PACKAGES:
        return
    package, extra = _PACKAGES[fmt]
    try:
        __import__(package)
    except ImportError:
        raise InferenceError(f"--export {fmt} needs {package}: pip install 'segvggt[{extra}]'") from None


def check_cameras(result: SceneResult, formats: Sequence[str]) -> None:
    """InferenceError when an export is asked for but a predicted camera is not finite (a focal length of inf
    comes from a field of view of 0, e.g. from an untrained model): COLMAP, nerfstudio and glTF cannot hold it."""
    if not formats:
        return
    bad = [name for name, K, E in zip(result.names, result.intrinsics, result.cam_from_world)
           if not (np.isfinite(K).all() and np.isfinite(E).all() and K[0, 0] > 0 and K[1, 1] > 0)]
    if bad:
        raise InferenceError(
            f"--export {','.join(formats)}: the model predicted no usable camera for {len(bad)} photo(s) "
            f"({', '.join(bad[:5])}: focal length or pose not finite); use a trained checkpoint, or drop --export"
        )


def image_file_names(result: SceneResult) -> list[str]:
    """File name of each photo in OUT/images/: the photo's own name, or <name>.png for tensor inputs."""
    names = []
    for name, record in zip(result.names, result.records):
        path = Path(record.path) if record.path else None
        names.append(path.name if path is not None and path.is_file() else f"{name}.png")
    if len(set(names)) != len(names):  # two folders' photos with one name: fall back to the unique output names
        names = [f"{name}{Path(n).suffix}" for name, n in zip(result.names, names)]
    return names


def write_photos(result: SceneResult, out: Path, file_names: list[str]) -> int:
    """Copy each photo to OUT/images/<file> as displayed: byte copy, or re-encoded upright when its EXIF says
    rotate (our cameras describe the upright photo; COLMAP and nerfstudio ignore EXIF). Returns photos written."""
    from PIL import Image, ImageOps

    folder = Path(out) / "images"
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for record, file_name in zip(result.records, file_names):
        src = Path(record.path) if record.path else None
        if src is None or not src.is_file():
            logger.warning("no photo file for %s (tensor input): images/%s not written", file_name, file_name)
            continue
        with Image.open(src) as img:
            orientation = img.getexif().get(0x0112, 1)
            if orientation in (None, 1):
                shutil.copyfile(src, folder / file_name)
            else:
                upright = ImageOps.exif_transpose(img)
                upright.save(folder / file_name, **({"quality": 95} if img.format == "JPEG" else {}))
        written += 1
    return written


def write_exports(result: SceneResult, out: Path, formats: Sequence[str], keep: np.ndarray) -> list[Path]:
    """Write each format of `formats` (see EXPORT_FORMATS) into `out`; keep: [M] bool points to export.
    Returns the paths written (folders for colmap and images)."""
    from segvggt.inference import exports_colmap, exports_glb, exports_nerfstudio

    out = Path(out)
    written: list[Path] = []
    file_names = image_file_names(result)
    if any(f in _NEEDS_PHOTOS for f in formats) and not (out / "images").is_dir():
        write_photos(result, out, file_names)
        written.append(out / "images")
    if "colmap" in formats:
        written.append(exports_colmap.write_colmap(result, out, keep, file_names))
    if "glb" in formats:
        written.append(exports_glb.write_glb(result, out / "scene.glb", keep))
    if "nerfstudio" in formats:
        ply = "scene.ply" if (out / "scene.ply").is_file() else None
        written.append(exports_nerfstudio.write_nerfstudio(result, out, file_names, ply))
    return written
