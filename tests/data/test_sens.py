import struct
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from scannet_fixtures import K_COLOR, K_DEPTH, write_sens  # noqa: E402

from segvggt.data.errors import DataError  # noqa: E402
from segvggt.data.sens import ExportFolder, SensFile  # noqa: E402


def _frames():
    rng = np.random.default_rng(0)
    out = []
    for t in range(3):
        c2w = np.eye(4)
        c2w[:3, 3] = [t, 2 * t, 0.5]
        color = np.full((12, 16, 3), 40 * t + 20, np.uint8)
        depth = rng.integers(0, 5000, (6, 8)).astype(np.uint16)
        out.append((c2w, color, depth))
    out[1] = (np.full((4, 4), -np.inf), out[1][1], out[1][2])
    return out


def test_sens_round_trip(tmp_path):
    frames = _frames()
    write_sens(tmp_path / "a.sens", K_COLOR, K_DEPTH, frames)
    s = SensFile(tmp_path / "a.sens")
    assert s.frame_ids == [0, 1, 2]
    assert (s.color_width, s.color_height, s.depth_width, s.depth_height) == (16, 12, 8, 6)
    assert s.color_codec == "jpeg" and s.depth_codec == "zlib_ushort" and s.depth_shift == 1000.0
    np.testing.assert_allclose(s.color_intrinsics, K_COLOR)
    np.testing.assert_allclose(s.depth_intrinsics, K_DEPTH)
    np.testing.assert_allclose(s.camera_to_world(2)[:3, 3], [2, 4, 0.5])
    assert np.all(np.isneginf(s.camera_to_world(1)))
    np.testing.assert_array_equal(s.depth(2), frames[2][2].astype(np.float32) / 1000)  # lossless: exact mm
    assert np.abs(s.color(2).astype(int) - 100).max() <= 2  # JPEG of a flat image


def test_wrong_version_and_truncation(tmp_path):
    write_sens(tmp_path / "v3.sens", K_COLOR, K_DEPTH, _frames(), version=3)
    with pytest.raises(DataError, match="version 3, expected 4"):
        SensFile(tmp_path / "v3.sens")
    write_sens(tmp_path / "t.sens", K_COLOR, K_DEPTH, _frames())
    data = (tmp_path / "t.sens").read_bytes()
    (tmp_path / "t.sens").write_bytes(data[:-10])
    with pytest.raises(DataError, match="re-download"):
        SensFile(tmp_path / "t.sens")
    with pytest.raises(DataError, match="missing"):
        SensFile(tmp_path / "none.sens")
    # header declaring an unknown depth codec (occi)
    bad = bytearray(data)
    off = 4 + 8 + len(b"StructureSensor") + 4 * 64 + 4
    bad[off : off + 4] = struct.pack("<i", 2)
    (tmp_path / "c.sens").write_bytes(bytes(bad))
    with pytest.raises(DataError, match="unsupported compression"):
        SensFile(tmp_path / "c.sens")


def test_export_folder_count_mismatch(tmp_path):
    from PIL import Image

    for sub in ("color", "depth", "pose", "intrinsic"):
        (tmp_path / sub).mkdir()
    for i in (0, 20):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "color" / f"{i}.jpg")
        np.savetxt(tmp_path / "pose" / f"{i}.txt", np.eye(4))
    Image.fromarray(np.full((4, 4), 1500, np.uint16)).save(tmp_path / "depth" / "0.png")
    for n in ("color", "depth"):
        np.savetxt(tmp_path / "intrinsic" / f"intrinsic_{n}.txt", np.eye(4))
    with pytest.raises(DataError, match="2 colour vs 1 depth"):
        ExportFolder(tmp_path)
    Image.fromarray(np.full((4, 4), 1500, np.uint16)).save(tmp_path / "depth" / "20.png")
    ex = ExportFolder(tmp_path)
    assert ex.frame_ids == [0, 20]
    np.testing.assert_allclose(ex.depth(20), 1.5)
