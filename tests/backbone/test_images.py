"""load_and_preprocess_images: sizes, rounding, crop / pad, white padding, alpha, EXIF, bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.testing import assert_close

from segvggt.backbone import load_and_preprocess_images
from segvggt.backbone.images import resize_map_to_original
from segvggt.data.errors import DataError


def _write(path, width, height, color=(10, 200, 30), mode="RGB"):
    Image.new(mode, (width, height), color).save(path)
    return path


def test_crop_mode_rounds_half_to_even(tmp_path):
    # 50 * 518 / 100 / 14 = 18.5 exactly: Python round -> 18 (half to even), so height 252 not 266
    images, records = load_and_preprocess_images([_write(tmp_path / "a.png", 100, 50)], mode="crop")
    assert images.shape == (1, 3, 252, 518)
    assert records[0].original_hw == (50, 100) and records[0].resized_hw == (252, 518)
    assert_close(images[0, :, 100, 200], torch.tensor([10, 200, 30]) / 255.0)


def test_crop_mode_centre_crops_tall_images(tmp_path):
    path = tmp_path / "tall.png"
    pixels = np.zeros((100, 50, 3), np.uint8)
    pixels[:30] = 255  # white until resized row ~311; the crop keeps resized rows 259..777 of 1036
    Image.fromarray(pixels).save(path)
    images, records = load_and_preprocess_images([path], mode="crop")
    assert images.shape == (1, 3, 518, 518)
    assert records[0].resized_hw == (1036, 518) and records[0].offset_yx == (-259, 0)
    assert images[0, :, 20].mean() > 0.95 and images[0, :, 100].mean() < 0.05  # edge at crop row ~52
    assert images.shape[-1] % 14 == 0 and images.shape[-2] % 14 == 0


def test_pad_mode_pads_with_white_centred(tmp_path):
    images, records = load_and_preprocess_images([_write(tmp_path / "p.png", 50, 100, (0, 0, 0))], mode="pad")
    assert images.shape == (1, 3, 518, 518)
    rec = records[0]
    assert rec.resized_hw == (518, 252) and rec.offset_yx == (0, 133)  # (518 - 252) // 2
    assert (images[0, :, :, :133] == 1.0).all() and (images[0, :, :, 133 + 252 :] == 1.0).all()
    assert (images[0, :, :, 140:370] == 0.0).all()
    assert rec.content_box == (0, 518, 133, 385)


def test_mixed_sizes_are_padded_to_the_largest(tmp_path):
    paths = [_write(tmp_path / "w.png", 100, 50), _write(tmp_path / "s.png", 60, 60)]
    images, records = load_and_preprocess_images(paths, mode="crop")
    assert images.shape == (2, 3, 518, 518)
    assert records[0].offset_yx == ((518 - 252) // 2, 0) and records[0].final_hw == (518, 518)
    assert (images[0, :, :100] == 1.0).all()


def test_rgba_composited_on_white(tmp_path):
    path = tmp_path / "rgba.png"
    pixels = np.zeros((280, 518, 4), np.uint8)
    pixels[:140] = (255, 0, 0, 128)  # half-transparent red over white -> (255, 127, 127)
    pixels[140:] = (0, 0, 255, 0)  # fully transparent -> white
    Image.fromarray(pixels, "RGBA").save(path)
    images, _ = load_and_preprocess_images([path])
    assert images.shape == (1, 3, 280, 518)
    assert_close(images[0, :, 50, 50], torch.tensor([255, 127, 127]) / 255.0)
    assert_close(images[0, :, 250, 50], torch.ones(3))


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    pixels = np.zeros((60, 120, 3), np.uint8)
    pixels[:, :60] = (255, 0, 0)  # stored: left half red, right half blue
    pixels[:, 60:] = (0, 0, 255)
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the stored left side ends up on top
    img.save(path, exif=exif, quality=95)
    images, records = load_and_preprocess_images([path], mode="pad")
    assert records[0].original_hw == (120, 60)
    assert records[0].resized_hw == (518, 252)
    top, bottom = images[0, :, 50, 259], images[0, :, 460, 259]
    assert top[0] > 0.8 and top[2] < 0.2
    assert bottom[2] > 0.8 and bottom[0] < 0.2


def test_corrupt_and_missing_files_give_data_error(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(DataError, match="broken.jpg: cannot decode image"):
        load_and_preprocess_images([bad])
    with pytest.raises(DataError, match="missing.png: image file not found"):
        load_and_preprocess_images([tmp_path / "missing.png"])
    with pytest.raises(ValueError, match="mode"):
        load_and_preprocess_images([bad], mode="stretch")


def test_record_maps_pixels_and_intrinsics_back(tmp_path):
    _, records = load_and_preprocess_images([_write(tmp_path / "p.png", 50, 100)], mode="pad")
    rec = records[0]
    uv = torch.tensor([[0.0, 0.0], [49.0, 99.0], [12.3, 45.6]])
    assert_close(rec.to_original(rec.from_original(uv)), uv)
    sy, sx = rec.scale_yx
    assert_close(rec.from_original(torch.tensor([-0.5, -0.5])), torch.tensor([-0.5 + 133, -0.5]))  # corner
    K = torch.tensor([[100.0, 0, 259.0], [0, 100.0, 259.0], [0, 0, 1]])
    K0 = rec.intrinsics_to_original(K)
    p = torch.tensor([0.3, -0.2, 2.0])
    proj_final = (K @ p)[:2] / p[2]
    proj_orig = (K0 @ p)[:2] / p[2]
    assert_close(rec.to_original(proj_final), proj_orig)
    restored = resize_map_to_original(torch.rand(2, 518, 518), rec)
    assert restored.shape == (2, 100, 50)
