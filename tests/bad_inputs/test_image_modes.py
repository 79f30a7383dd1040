"""Every image mode Pillow reads becomes the RGB a viewer shows, in [0, 1], or is refused naming the file.

Before: a 16-bit grey PNG became all white and a float TIFF all black (Pillow's convert("RGB") clips).
Each photo is 28x28 so the 28-wide network input is the photo itself (no resize blur in the check).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from segvggt.backbone import load_and_preprocess_images
from segvggt.data.errors import DataError

SIZE = 28


def _load(path) -> np.ndarray:
    """[H, W, 3] float network input of one photo (pad mode, target 28 = the photo's own size)."""
    x, _ = load_and_preprocess_images([path], mode="pad", target_size=SIZE)
    return x[0].permute(1, 2, 0).numpy()


def _ramp(high: float, dtype) -> np.ndarray:
    return (np.linspace(0, high, SIZE * SIZE).reshape(SIZE, SIZE)).astype(dtype)


def _grey(values01: np.ndarray) -> np.ndarray:
    """What a viewer shows for grey levels in [0, 1]: 8-bit RGB, as the loader's output."""
    return np.repeat((np.round(values01 * 255) / 255)[..., None], 3, axis=-1)


def test_16_bit_grey_png_is_scaled_not_white(tmp_path):
    values = _ramp(65535, np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    got = _load(tmp_path / "g16.png")
    np.testing.assert_allclose(got, _grey(values / 65535.0), atol=1e-6)
    assert got.min() == 0.0 and got.max() == 1.0 and 0.45 < got.mean() < 0.55  # a ramp, not all white


def test_32_bit_integer_tiff_holding_16_bit_values_is_scaled(tmp_path):
    values = _ramp(65535, np.int32)
    Image.fromarray(values).save(tmp_path / "i32.tif")
    assert Image.open(tmp_path / "i32.tif").mode == "I"
    np.testing.assert_allclose(_load(tmp_path / "i32.tif"), _grey(values / 65535.0), atol=1e-6)


def test_32_bit_integer_beyond_16_bits_is_refused(tmp_path):
    Image.fromarray(_ramp(10**6, np.int32)).save(tmp_path / "wide.tif")
    with pytest.raises(DataError, match=r"wide\.tif: 32-bit integer image with values in \[0, 1000000\]"):
        _load(tmp_path / "wide.tif")


def test_float_tiff_in_0_1_is_used_as_is_not_black(tmp_path):
    values = _ramp(1.0, np.float32)
    Image.fromarray(values).save(tmp_path / "f.tif")
    assert Image.open(tmp_path / "f.tif").mode == "F"
    got = _load(tmp_path / "f.tif")
    np.testing.assert_allclose(got, _grey(values.astype(np.float64)), atol=1e-6)
    assert got.max() == 1.0


@pytest.mark.parametrize("fill, found", [(float("nan"), "NaN or inf"), (-0.5, r"\[-0.5, 1\]")])
def test_float_tiff_with_nan_or_negative_values_is_refused(tmp_path, fill, found):
    values = _ramp(1.0, np.float32)
    values[0, 0] = fill
    Image.fromarray(values).save(tmp_path / "bad.tif")
    with pytest.raises(DataError, match=rf"bad\.tif: float image with values {found}"):
        _load(tmp_path / "bad.tif")


def test_grey_with_alpha_is_composited_on_white(tmp_path):
    la = np.zeros((SIZE, SIZE, 2), np.uint8)
    la[..., 0] = 0  # black ...
    la[:, : SIZE // 2, 1] = 255  # ... opaque on the left, fully transparent on the right
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    got = _load(tmp_path / "la.png")
    assert (got[:, : SIZE // 2] == 0.0).all() and (got[:, SIZE // 2 :] == 1.0).all()


def test_palette_with_a_transparent_colour_is_white_there(tmp_path):
    img = Image.new("P", (SIZE, SIZE), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # 0 = red (transparent), 1 = blue
    img.paste(1, (0, 0, SIZE, SIZE // 2))
    img.save(tmp_path / "p.png", transparency=0)
    got = _load(tmp_path / "p.png")
    np.testing.assert_array_equal(got[0, 0], [0.0, 0.0, 1.0])  # blue, opaque
    np.testing.assert_array_equal(got[-1, 0], [1.0, 1.0, 1.0])  # transparent red -> white


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (SIZE, SIZE), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)  # red in CMYK
    got = _load(tmp_path / "c.jpg")
    assert got[..., 0].mean() > 0.95 and got[..., 1:].mean() < 0.05


def test_one_bit_image_is_black_and_white(tmp_path):
    img = Image.new("1", (SIZE, SIZE), 0)
    img.paste(1, (0, 0, SIZE // 2, SIZE))
    img.save(tmp_path / "b.png")
    got = _load(tmp_path / "b.png")
    assert (got[:, : SIZE // 2] == 1.0).all() and (got[:, SIZE // 2 :] == 0.0).all()
