"""Image loading and resizing for VGGT (the official demo preprocessing, without torchvision).

mode "crop": width -> target (518), height -> round(H * target / W / 14) * 14 (Python round, half to
even), bicubic; rows beyond `target` are centre-cropped. mode "pad": the longer side -> target, the
other -> round(... / 14) * 14, bicubic, then padded with white to target x target (top / left pad =
floor(pad / 2)). Images of different final sizes are padded (white, centred) to the largest H and W.
RGBA (and other alpha modes) are composited on white; 16-bit and float images are scaled to [0, 1]
(see `_to_rgb`); EXIF orientation is applied first (upstream does not, so rotated phone photos differ
from the official demo). Photos smaller than one patch (MIN_SIDE) on a side are refused.

Each image gets an `ImageRecord` describing the transform so outputs can be mapped back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from segvggt.data.errors import DataError

logger = logging.getLogger(__name__)

PATCH = 14


@dataclass(frozen=True)
class ImageRecord:
    """How one image became its slot in the batch.

    original_hw: size of the (EXIF-rotated) file image. resized_hw: size after the bicubic resize.
    offset_yx: where the resized image's top-left pixel lands in the final image (negative = rows
    cropped away, positive = padding). final_hw: size of the returned image.
    Pixel centres are at integer coordinates: u_final + 0.5 = sx (u_orig + 0.5) + offset_x.
    """

    path: str
    original_hw: tuple[int, int]
    resized_hw: tuple[int, int]
    offset_yx: tuple[int, int]
    final_hw: tuple[int, int]

    @property
    def scale_yx(self) -> tuple[float, float]:
        """(sy, sx) = resized / original size."""
        return self.resized_hw[0] / self.original_hw[0], self.resized_hw[1] / self.original_hw[1]

    @property
    def content_box(self) -> tuple[int, int, int, int]:
        """(y0, y1, x0, x1) of the final image that shows image content (not padding)."""
        y0, x0 = max(self.offset_yx[0], 0), max(self.offset_yx[1], 0)
        y1 = min(self.offset_yx[0] + self.resized_hw[0], self.final_hw[0])
        x1 = min(self.offset_yx[1] + self.resized_hw[1], self.final_hw[1])
        return y0, y1, x0, x1

    def to_original(self, uv: Tensor) -> Tensor:
        """Final-image pixel coordinates [..., 2] (u, v) -> original-image coordinates [..., 2]."""
        sy, sx = self.scale_yx
        u = (uv[..., 0] - self.offset_yx[1] + 0.5) / sx - 0.5
        v = (uv[..., 1] - self.offset_yx[0] + 0.5) / sy - 0.5
        return torch.stack([u, v], dim=-1)

    def from_original(self, uv: Tensor) -> Tensor:
        """Original-image pixel coordinates [..., 2] (u, v) -> final-image coordinates [..., 2]."""
        sy, sx = self.scale_yx
        u = (uv[..., 0] + 0.5) * sx - 0.5 + self.offset_yx[1]
        v = (uv[..., 1] + 0.5) * sy - 0.5 + self.offset_yx[0]
        return torch.stack([u, v], dim=-1)

    def intrinsics_to_original(self, K: Tensor) -> Tensor:
        """Intrinsics [..., 3, 3] of the final image -> intrinsics of the original image."""
        sy, sx = self.scale_yx
        out = K.clone()
        out[..., 0, 0] = K[..., 0, 0] / sx
        out[..., 1, 1] = K[..., 1, 1] / sy
        out[..., 0, 2] = (K[..., 0, 2] - self.offset_yx[1] + 0.5) / sx - 0.5
        out[..., 1, 2] = (K[..., 1, 2] - self.offset_yx[0] + 0.5) / sy - 0.5
        return out


MIN_SIDE = PATCH  # a photo narrower than one patch has less detail than one network token


def _open_rgb(path: Path):
    """The photo at `path` as an 8-bit RGB PIL image, whatever mode Pillow reads it in (see `_to_rgb`)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
    except Image.DecompressionBombError as err:
        raise DataError(
            f"{path}: image is too large to decode safely ({err}); downscale it (e.g. to 4000 pixels on the long side)"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: cannot decode image ({err}); the file is corrupt or not an image - replace it") from None
    return _to_rgb(img, path)


def _to_rgb(img, path: Path):
    """Any Pillow mode -> 8-bit RGB, with the values a viewer shows (Pillow's own convert("RGB") clips
    16-bit and float images to white / black).

    - 16-bit grey ("I;16*") is scaled by 1/65535; 32-bit integer grey ("I") must hold 0..65535 (the 16-bit
      images Pillow reads as "I") and is scaled the same way; float grey ("F") must hold finite values in
      [0, 1]. Anything else is refused, naming the range found: guessing a scale would be silently wrong.
    - Alpha ("RGBA", "LA", "PA", "RGBa", "P" with a transparent colour) is composited on white.
    - "1", "L", "P", "CMYK", "YCbCr", "LAB", "HSV" use Pillow's conversion.
    """
    from PIL import Image

    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        values = np.asarray(img)
        if img.mode == "F":
            finite = np.isfinite(values).all()
            if not finite or values.min() < 0.0 or values.max() > 1.0:
                found = "NaN or inf" if not finite else f"[{values.min():g}, {values.max():g}]"
                raise DataError(
                    f"{path}: float image with values {found}; float photos must lie in [0, 1] - save it as an "
                    "8-bit or 16-bit PNG / JPEG"
                )
            scaled = values.astype(np.float64)
        else:
            if values.min() < 0 or values.max() > 65535:
                raise DataError(
                    f"{path}: 32-bit integer image with values in [{values.min()}, {values.max()}]; only 0..65535 "
                    "(16-bit) is understood - save it as an 8-bit or 16-bit PNG"
                )
            scaled = values.astype(np.float64) / 65535.0
        grey = np.round(scaled * 255.0).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=-1), "RGB")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as err:
        raise DataError(f"{path}: image mode {img.mode} cannot be converted to RGB ({err}); save it as an RGB PNG / JPEG") from None


def _resized_size(width: int, height: int, mode: str, target: int) -> tuple[int, int]:
    """(new_w, new_h) following the official rule (Python round = half to even)."""
    if mode == "pad" and height > width:
        return round(width * (target / height) / PATCH) * PATCH, target
    return target, round(height * (target / width) / PATCH) * PATCH


def load_and_preprocess_images(
    paths: Sequence[str | Path], mode: str = "crop", target_size: int = 518
) -> tuple[Tensor, list[ImageRecord]]:
    """Load images for VGGT. Returns (images [N, 3, H, W] in [0, 1], one ImageRecord per image).

    H and W are multiples of 14. Raises DataError for missing or undecodable files, ValueError for
    a bad mode / size.
    """
    from PIL import Image

    if mode not in ("crop", "pad"):
        raise ValueError(f"mode must be 'crop' or 'pad', got {mode!r}")
    if target_size % PATCH or target_size <= 0:
        raise ValueError(f"target_size must be a positive multiple of {PATCH}, got {target_size}")
    if len(paths) == 0:
        raise DataError("no images given: pass at least one image path")
    images, records = [], []
    for path in paths:
        path = Path(path)
        img = _open_rgb(path)
        width, height = img.size
        if width < MIN_SIDE or height < MIN_SIDE:
            raise DataError(
                f"{path}: image of {width}x{height} pixels is too small; photos need at least {MIN_SIDE} pixels on each side"
            )
        new_w, new_h = _resized_size(width, height, mode, target_size)
        if new_w <= 0 or new_h <= 0:
            raise DataError(f"{path}: image of {width}x{height} is too thin to resize to a multiple of {PATCH}")
        img = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
        x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255.0
        off_y, off_x = 0, 0
        if mode == "crop" and new_h > target_size:
            off_y = -((new_h - target_size) // 2)
            x = x[:, -off_y : -off_y + target_size]
        if mode == "pad":
            x, (off_y, off_x) = _pad_white(x, target_size, target_size)
        images.append(x)
        records.append(ImageRecord(str(path), (height, width), (new_h, new_w), (off_y, off_x), tuple(x.shape[1:])))
    max_h = max(x.shape[1] for x in images)
    max_w = max(x.shape[2] for x in images)
    if any(x.shape[1:] != (max_h, max_w) for x in images):
        logger.warning("images have different sizes after preprocessing; padding all to %dx%d", max_h, max_w)
        for i, x in enumerate(images):
            images[i], (dy, dx) = _pad_white(x, max_h, max_w)
            r = records[i]
            records[i] = ImageRecord(r.path, r.original_hw, r.resized_hw, (r.offset_yx[0] + dy, r.offset_yx[1] + dx),
                                     (max_h, max_w))
    return torch.stack(images), records


def _pad_white(x: Tensor, H: int, W: int) -> tuple[Tensor, tuple[int, int]]:
    """[3, h, w] -> [3, H, W] padded with 1.0, top / left = floor(pad / 2); returns the (top, left) pad."""
    dh, dw = H - x.shape[1], W - x.shape[2]
    top, left = dh // 2, dw // 2
    out = torch.nn.functional.pad(x, (left, dw - left, top, dh - top), value=1.0)
    return out, (top, left)


def resize_map_to_original(values: Tensor, record: ImageRecord, mode: str = "bilinear") -> Tensor:
    """Per-pixel map [C, H, W] on the final image -> [C, h_o, w_o] on the part of the original image
    it covers (in crop mode the cropped-away rows are not covered: h_o < original height)."""
    y0, y1, x0, x1 = record.content_box
    content = values[:, y0:y1, x0:x1]
    sy, sx = record.scale_yx
    out_h = min(record.original_hw[0], round((y1 - y0) / sy))
    out_w = min(record.original_hw[1], round((x1 - x0) / sx))
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return torch.nn.functional.interpolate(content[None].float(), size=(out_h, out_w), mode=mode, **kwargs)[0]
