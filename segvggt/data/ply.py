"""A small, liberal PLY reader for benchmark meshes (ScanNet `_vh_clean_2.ply`, ScanNet++ `mesh_aligned_0.05.ply`).

ScanNet writes `format binary_little_endian 1.0` with vertex x y z (float) red green blue alpha
(uchar) and `property list uchar int vertex_indices` faces; other tools write ASCII, big-endian,
double coordinates, `vertex_index` or `uint` lists, extra elements. All of these are accepted;
only x, y, z and the faces are returned, plus every other scalar vertex property by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segvggt.data.errors import DataError

_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip
_FACE_LISTS = ("vertex_indices", "vertex_index")


@dataclass(frozen=True)
class PlyMesh:
    """vertices [M, 3] float32; faces [F, 3] int64 (triangles; polygons are fanned), possibly empty;
    vertex_properties: every other scalar vertex property, name -> [M]."""

    vertices: np.ndarray
    faces: np.ndarray
    vertex_properties: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class _Element:
    name: str
    count: int
    props: list[tuple[str, str, str | None]]  # (name, value dtype, list-count dtype or None)


def _parse_header(f, path: Path) -> tuple[str, list[_Element]]:
    if f.readline().strip() != b"ply":
        raise DataError(f"{path} is not a PLY file (no 'ply' magic line); check the mesh file")
    fmt, elements = None, []
    while True:
        line = f.readline()
        if not line:
            raise DataError(f"{path}: PLY header has no end_header line; the file is truncated or corrupt")
        words = line.decode("ascii", errors="replace").split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "end_header":
            break
        try:
            if words[0] == "format":
                fmt = words[1]
            elif words[0] == "element":
                elements.append(_Element(words[1], int(words[2]), []))
            elif words[0] == "property" and words[1] == "list":
                elements[-1].props.append((words[4], _TYPES[words[3]], _TYPES[words[2]]))
            elif words[0] == "property":
                elements[-1].props.append((words[2], _TYPES[words[1]], None))
        except (KeyError, IndexError, ValueError) as err:
            raise DataError(f"{path}: cannot parse PLY header line {line!r} ({err})") from err
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise DataError(f"{path}: unknown PLY format {fmt!r}")
    return fmt, elements


def _read_binary_element(f, el: _Element, endian: str) -> dict[str, object]:
    if all(p[2] is None for p in el.props):
        dtype = np.dtype([(n, endian + t) for n, t, _ in el.props])
        data = np.frombuffer(f.read(dtype.itemsize * el.count), dtype=dtype, count=el.count)
        return {n: data[n] for n, _, _ in el.props}
    if len(el.props) == 1:
        # A face element: try the fast path of equal list lengths (all triangles), else parse one by one.
        name, t, ct = el.props[0]
        start = f.tell()
        head = np.frombuffer(f.read(np.dtype(ct).itemsize), dtype=endian + ct)
        f.seek(start)
        if el.count and head.size:
            k = int(head[0])
            dtype = np.dtype([("n", endian + ct), ("i", endian + t, (k,))])
            raw = f.read(dtype.itemsize * el.count)
            if len(raw) == dtype.itemsize * el.count:
                data = np.frombuffer(raw, dtype=dtype)
                if np.all(data["n"] == k):
                    return {name: data["i"].astype(np.int64)}
            f.seek(start)
    out: dict[str, list] = {n: [] for n, _, _ in el.props}
    for _ in range(el.count):
        for n, t, ct in el.props:
            if ct is None:
                out[n].append(np.frombuffer(f.read(np.dtype(t).itemsize), dtype=endian + t)[0])
            else:
                k = int(np.frombuffer(f.read(np.dtype(ct).itemsize), dtype=endian + ct)[0])
                out[n].append(np.frombuffer(f.read(np.dtype(t).itemsize * k), dtype=endian + t).astype(np.int64))
    return {n: (np.asarray(out[n]) if ct is None else out[n]) for n, _, ct in el.props}


def _read_ascii_element(f, el: _Element) -> dict[str, object]:
    out: dict[str, list] = {n: [] for n, _, _ in el.props}
    for _ in range(el.count):
        words = f.readline().split()
        pos = 0
        for n, t, ct in el.props:
            if ct is None:
                out[n].append(float(words[pos]))
                pos += 1
            else:
                k = int(words[pos])
                out[n].append(np.asarray([int(w) for w in words[pos + 1 : pos + 1 + k]], dtype=np.int64))
                pos += 1 + k
    return {
        n: (np.asarray(out[n], dtype=t) if ct is None else out[n]) for n, t, ct in el.props
    }  # fmt: skip


def _triangulate(polys) -> np.ndarray:
    if isinstance(polys, np.ndarray) and polys.ndim == 2:
        if polys.shape[1] == 3:
            return polys.astype(np.int64)
        polys = list(polys)
    tris = []
    for p in polys:
        for j in range(1, len(p) - 1):  # fan: (0, j, j+1)
            tris.append((p[0], p[j], p[j + 1]))
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)


def read_ply(path: str | Path) -> PlyMesh:
    """Read a PLY mesh or point cloud. Returns PlyMesh(vertices [M, 3], faces [F, 3], properties)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing mesh {path}; check the raw data folder")
    with open(path, "rb") as f:
        fmt, elements = _parse_header(f, path)
        endian = {"binary_little_endian": "<", "binary_big_endian": ">"}.get(fmt, "")
        parsed: dict[str, dict] = {}
        try:
            for el in elements:
                parsed[el.name] = _read_ascii_element(f, el) if fmt == "ascii" else _read_binary_element(f, el, endian)
                if "vertex" in parsed and "face" in parsed:
                    break  # nothing after the faces is needed
        except (ValueError, IndexError) as err:
            raise DataError(f"{path}: PLY body is truncated or does not match its header ({err})") from err
    vert = parsed.get("vertex")
    if vert is None or not all(k in vert for k in "xyz"):
        raise DataError(f"{path}: PLY has no vertex element with x, y, z")
    vertices = np.stack([np.asarray(vert[k], dtype=np.float32) for k in "xyz"], axis=1)
    faces = np.zeros((0, 3), dtype=np.int64)
    face = parsed.get("face")
    if face:
        key = next((k for k in _FACE_LISTS if k in face), None)
        if key is None:
            raise DataError(f"{path}: PLY face element has no vertex_indices list")
        faces = _triangulate(face[key])
        if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
            raise DataError(f"{path}: PLY faces index vertices outside 0..{len(vertices) - 1}")
    props = {k: np.asarray(v) for k, v in vert.items() if k not in ("x", "y", "z")}
    return PlyMesh(vertices, faces, props)


def write_ply(
    path: str | Path, vertices: np.ndarray, faces: np.ndarray | None = None, colors: np.ndarray | None = None,
    binary: bool = True,
) -> None:
    """Write a mesh the way ScanNet does: x y z float, red green blue alpha uchar, `list uchar int vertex_indices`.

    vertices [M, 3]; faces [F, 3]; colors [M, 3] uint8 (grey when None).
    """
    vertices = np.asarray(vertices, dtype=np.float32)
    M = len(vertices)
    colors = np.full((M, 3), 128, np.uint8) if colors is None else np.asarray(colors, dtype=np.uint8)
    faces = np.zeros((0, 3), np.int32) if faces is None else np.asarray(faces, dtype=np.int32)
    header = (
        f"ply\nformat {'binary_little_endian' if binary else 'ascii'} 1.0\ncomment VCGLIB generated\n"
        f"element vertex {M}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        if binary:
            vdt = np.dtype([("p", "<f4", (3,)), ("c", "u1", (4,))])
            v = np.empty(M, vdt)
            v["p"], v["c"] = vertices, np.concatenate([colors, np.full((M, 1), 255, np.uint8)], axis=1)
            f.write(v.tobytes())
            fdt = np.dtype([("n", "u1"), ("i", "<i4", (3,))])
            fa = np.empty(len(faces), fdt)
            fa["n"], fa["i"] = 3, faces
            f.write(fa.tobytes())
        else:
            for p, c in zip(vertices, colors):
                f.write(f"{p[0]:.6f} {p[1]:.6f} {p[2]:.6f} {c[0]} {c[1]} {c[2]} 255\n".encode())
            for t in faces:
                f.write(f"3 {t[0]} {t[1]} {t[2]}\n".encode())
