import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from segvggt.data.errors import DataError  # noqa: E402
from segvggt.data.ply import read_ply, write_ply  # noqa: E402


def _mesh():
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0.5]], np.float32)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    return v, f


@pytest.mark.parametrize("binary", [True, False])
def test_scannet_style_round_trip(tmp_path, binary):
    v, f = _mesh()
    write_ply(tmp_path / "m.ply", v, f, colors=np.array([[1, 2, 3]] * 4), binary=binary)
    m = read_ply(tmp_path / "m.ply")
    np.testing.assert_allclose(m.vertices, v, atol=1e-6)
    np.testing.assert_array_equal(m.faces, f)
    np.testing.assert_array_equal(m.vertex_properties["red"], [1, 1, 1, 1])
    assert set(m.vertex_properties) == {"red", "green", "blue", "alpha"}


def test_binary_header_matches_scannet(tmp_path):
    v, f = _mesh()
    write_ply(tmp_path / "m.ply", v, f)
    head = (tmp_path / "m.ply").read_bytes().split(b"end_header\n")[0].decode()
    assert "format binary_little_endian 1.0" in head
    assert "property list uchar int vertex_indices" in head
    # 4 vertices x (3 float + 4 uchar) + 2 faces x (1 + 3 int)
    assert len((tmp_path / "m.ply").read_bytes()) == len(head) + len("end_header\n") + 4 * 16 + 2 * 13


def test_other_writers_quads_doubles_big_endian(tmp_path):
    # a big-endian file with double coordinates, an extra property, a quad and `vertex_index`
    head = ("ply\nformat binary_big_endian 1.0\nelement vertex 4\nproperty double x\nproperty double y\n"
            "property double z\nproperty float quality\nelement face 1\nproperty list uchar uint vertex_index\n"
            "end_header\n").encode()  # fmt: skip
    v, _ = _mesh()
    body = b"".join(np.array(p, ">f8").tobytes() + np.array([7], ">f4").tobytes() for p in v)
    body += np.array([4], "u1").tobytes() + np.array([0, 1, 2, 3], ">u4").tobytes()
    (tmp_path / "q.ply").write_bytes(head + body)
    m = read_ply(tmp_path / "q.ply")
    np.testing.assert_allclose(m.vertices, v)
    np.testing.assert_array_equal(m.faces, [[0, 1, 2], [0, 2, 3]])  # fan of the quad
    np.testing.assert_allclose(m.vertex_properties["quality"], 7)


def test_bad_files_raise_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="missing mesh"):
        read_ply(tmp_path / "none.ply")
    (tmp_path / "x.ply").write_bytes(b"solid stl\n")
    with pytest.raises(DataError, match="not a PLY"):
        read_ply(tmp_path / "x.ply")
    v, f = _mesh()
    write_ply(tmp_path / "t.ply", v, f)
    data = (tmp_path / "t.ply").read_bytes()
    (tmp_path / "t.ply").write_bytes(data[:-20])
    with pytest.raises(DataError, match="truncated"):
        read_ply(tmp_path / "t.ply")
