"""Tiny raw ScanNet scenes written in the real on-disk formats, for the preparation tests
(the ScanNet++ layout is in scannetpp_fixtures.py, which reuses this box room).

The ScanNet scene (`scene0000_00`): floor of two rooms (segments 10 and 11), a back wall (20), a
chair (30 top, 31 rest), a table (40, 41), a pillow (50) and a stool cushion (60), as boxes with
subdivided faces; aggregation objectIds 0..5 in that order (wall, floor, chair, table, pillow,
stool). Four frames look at the room from the front; frame 2 has an all -inf pose. 2D instance and
label images are ray cast from the mesh at colour resolution, depth at depth resolution.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from segvggt.data.ply import write_ply
from segvggt.data.raycast import MeshRaycaster

SCENE = "scene0000_00"
TSV_HEADER = ("id raw_category category count nyu40id eigen13id nyuClass nyu40class eigen13class ModelNet40 "
              "ModelNet10 ShapeNetCore55 synsetoffset wnsynsetid wnsynsetkey mpcat40 mpcat40index").split()  # fmt: skip
# (id, raw_category, nyu40id, nyu40class)
TSV_ROWS = [(1, "wall", 1, "wall"), (2, "chair", 5, "chair"), (3, "floor", 2, "floor"), (4, "table", 7, "table"),
            (13, "pillow", 18, "pillow"), (1300, "stool cushion", 5, "chair")]  # fmt: skip
# (label, segments) in segGroups order; objectId = position
GROUPS = [("wall", [20]), ("floor", [10, 11]), ("chair", [30, 31]), ("table", [40, 41]),
          ("pillow", [50]), ("stool cushion", [60])]  # fmt: skip
COLOR_HW, DEPTH_HW = (96, 128), (48, 64)
K_COLOR = np.array([[100.0, 0, 63.5], [0, 100.0, 47.5], [0, 0, 1]])
K_DEPTH = np.array([[49.0, 0, 31.5], [0, 49.0, 23.5], [0, 0, 1]])


def grid(origin, du, dv, nu: int, nv: int):
    """Planar grid of nu x nv vertices: origin + i du + j dv -> (vertices [nu*nv, 3], faces)."""
    o, du, dv = (np.asarray(a, float) for a in (origin, du, dv))
    i, j = np.meshgrid(np.arange(nu), np.arange(nv), indexing="ij")
    verts = o + i.reshape(-1, 1) * du + j.reshape(-1, 1) * dv
    idx = np.arange(nu * nv).reshape(nu, nv)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    return verts, faces


def box(center, size, top_seg: int, side_seg: int):
    """Six 3x3-vertex faces of an axis-aligned box standing on z = 0 -> (verts, faces, segs, front-centre index)."""
    cx, cy = center
    sx, sy, sz = size
    x0, x1, y0, y1 = cx - sx / 2, cx + sx / 2, cy - sy / 2, cy + sy / 2
    planes = [  # (origin, du, dv, seg)
        ((x0, y0, sz), (sx / 2, 0, 0), (0, sy / 2, 0), top_seg),
        ((x0, y0, 0), (sx / 2, 0, 0), (0, 0, sz / 2), side_seg),  # front (facing -y, the cameras)
        ((x0, y1, 0), (sx / 2, 0, 0), (0, 0, sz / 2), side_seg),
        ((x0, y0, 0), (0, sy / 2, 0), (0, 0, sz / 2), side_seg),
        ((x1, y0, 0), (0, sy / 2, 0), (0, 0, sz / 2), side_seg),
        ((x0, y0, 0), (sx / 2, 0, 0), (0, sy / 2, 0), side_seg),
    ]
    return planes


@dataclass(frozen=True)
class ScanNetFixture:
    scene_dir: Path
    vertices: np.ndarray  # [M, 3]
    faces: np.ndarray
    seg_indices: np.ndarray  # [M]
    camera_to_world: list[np.ndarray]  # per frame [4, 4]
    landmarks: dict[str, int]  # name -> vertex index (front-face centres, floor points)
    instance_of_vertex: np.ndarray  # [M] objectId + 1


def build_mesh():
    parts = []  # (verts, faces, seg)
    for x0, seg in ((0.0, 10), (2.0, 11)):
        v, f = grid((x0, 0, 0), (0.5, 0, 0), (0, 0.5, 0), 5, 5)
        parts.append((v, f, seg, None))
    v, f = grid((0, 2.0, 0), (0.5, 0, 0), (0, 0, 0.5), 9, 6)
    parts.append((v, f, 20, "wall_centre"))
    objects = [("chair", (1.0, 1.2), (0.5, 0.5, 0.8), 30, 31), ("table", (3.0, 1.0), (1.0, 0.6, 0.7), 40, 41),
               ("pillow", (0.5, 0.4), (0.4, 0.3, 0.3), 50, 50), ("stool", (2.2, 0.4), (0.4, 0.3, 0.4), 60, 60)]  # fmt: skip
    for name, c, s, ts, ss in objects:
        for k, (o, du, dv, seg) in enumerate(box(c, s, ts, ss)):
            v, f = grid(o, du, dv, 3, 3)
            parts.append((v, f, seg, f"{name}_front" if k == 1 else (f"{name}_top" if k == 0 else None)))
    verts, faces, segs, marks, n = [], [], [], {}, 0
    for v, f, seg, mark in parts:
        verts.append(v)
        faces.append(f + n)
        segs.append(np.full(len(v), seg))
        if mark:
            marks[mark] = n + len(v) // 2  # centre vertex of the grid
        n += len(v)
    marks["floor_room_a"] = 12  # (1.0, 1.0, 0)
    marks["floor_room_b"] = 25 + 12
    return np.concatenate(verts), np.concatenate(faces), np.concatenate(segs), marks


def look_at(eye, target) -> np.ndarray:
    """OpenCV camera_to_world [4, 4] (x right, y down, z forward), world +Z up."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, [0, 0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, z, eye
    return m


def camera_poses() -> list[np.ndarray]:
    poses = [look_at((x, -2.2, 1.6), (2.0, 1.0, 0.4)) for x in (1.6, 2.0, 2.4, 2.1)]
    poses[2] = np.full((4, 4), -np.inf)
    return poses


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def jpg_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def render(raycaster, inst_of_vertex, rawid_of_vertex, c2w):
    """-> colour [96,128,3] uint8, depth mm [48,64] uint16, instance [96,128] uint8, label [96,128] uint16."""
    if not np.all(np.isfinite(c2w)):
        return (np.zeros(COLOR_HW + (3,), np.uint8), np.zeros(DEPTH_HW, np.uint16),
                np.zeros(COLOR_HW, np.uint8), np.zeros(COLOR_HW, np.uint16))  # fmt: skip
    cfw = np.linalg.inv(c2w)[:3]
    hc = raycaster.cast(cfw, K_COLOR, *COLOR_HW)
    hd = raycaster.cast(cfw, K_DEPTH, *DEPTH_HW)
    ok = hc.vertex >= 0
    inst = np.where(ok, inst_of_vertex[np.maximum(hc.vertex, 0)], 0).astype(np.uint8)
    label = np.where(ok, rawid_of_vertex[np.maximum(hc.vertex, 0)], 0).astype(np.uint16)
    color = np.stack([(inst.astype(np.int64) * 40) % 256, (label.astype(np.int64) * 7) % 256, np.clip(hc.depth * 50, 0, 255)], -1).astype(np.uint8)
    depth = np.round(hd.depth * 1000).astype(np.uint16)
    return color, depth, inst, label


def write_sens(path: Path, K_color, K_depth, frames, version: int = 4) -> None:
    """frames: list of (camera_to_world [4,4], colour [h,w,3] uint8, depth mm [h',w'] uint16)."""
    def mat(m):
        m4 = np.eye(4)
        m4[: m.shape[0], : m.shape[1]] = m
        return m4.astype("<f4").tobytes()

    ch, cw = frames[0][1].shape[:2]
    dh, dw = frames[0][2].shape
    with open(path, "wb") as f:
        name = b"StructureSensor"
        f.write(struct.pack("<IQ", version, len(name)) + name)
        f.write(mat(K_color) + mat(np.eye(4)) + mat(K_depth) + mat(np.eye(4)))
        f.write(struct.pack("<ii4IfQ", 2, 1, cw, ch, dw, dh, 1000.0, len(frames)))
        for t, (c2w, color, depth) in enumerate(frames):
            cb, db = jpg_bytes(color), zlib.compress(depth.astype("<u2").tobytes())
            f.write(np.asarray(c2w, "<f4").tobytes() + struct.pack("<4Q", t, t, len(cb), len(db)) + cb + db)


def write_scannet_scene(raw: Path, *, frames: str = "sens", instances: str = "zip", ascii_ply: bool = False,
                        sens_version: int = 4, scene: str = SCENE) -> ScanNetFixture:  # fmt: skip
    """Write RAW/scans/<scene>/ and RAW/scannetv2-labels.combined.tsv.

    frames: 'sens', 'export' or 'both'; instances: 'zip' (filtered zips), 'folder', 'unfiltered', 'none'."""
    d = raw / "scans" / scene
    d.mkdir(parents=True, exist_ok=True)
    verts, faces, segs, marks = build_mesh()
    write_ply(d / f"{scene}_vh_clean_2.ply", verts, faces, binary=not ascii_ply)
    (d / f"{scene}_vh_clean_2.0.010000.segs.json").write_text(
        json.dumps({"params": {"kThresh": "0.0001", "segMinVerts": "20"}, "sceneId": scene, "segIndices": segs.tolist()})
    )
    groups = [{"id": k, "objectId": k, "segments": s, "label": lab} for k, (lab, s) in enumerate(GROUPS)]
    (d / f"{scene}.aggregation.json").write_text(
        json.dumps({"sceneId": f"scannet.{scene}", "appId": "Aggregator.v2", "segGroups": groups,
                    "segmentsFile": f"scannet.{scene}_vh_clean_2.0.010000.segs.json"})  # fmt: skip
    )
    with open(raw / "scannetv2-labels.combined.tsv", "w") as f:
        f.write("\t".join(TSV_HEADER) + "\n")
        for rid, rawc, nyu, nyuc in TSV_ROWS:
            f.write("\t".join([str(rid), rawc, rawc, "10", str(nyu), "", "", nyuc] + [""] * 9) + "\n")
    raw_id = {r[1]: r[0] for r in TSV_ROWS}
    inst_v, rawid_v = np.zeros(len(verts), np.int64), np.zeros(len(verts), np.int64)
    for k, (lab, ss) in enumerate(GROUPS):
        m = np.isin(segs, ss)
        inst_v[m], rawid_v[m] = k + 1, raw_id[lab]
    rc = MeshRaycaster(verts, faces)
    poses = camera_poses()
    rendered = [render(rc, inst_v, rawid_v, p) for p in poses]
    if frames in ("sens", "both"):
        write_sens(d / f"{scene}.sens", K_COLOR, K_DEPTH, [(p, r[0], r[1]) for p, r in zip(poses, rendered)],
                   version=sens_version)  # fmt: skip
    if frames in ("export", "both"):
        ex = d / "exported"
        for sub in ("color", "depth", "pose", "intrinsic"):
            (ex / sub).mkdir(parents=True, exist_ok=True)
        for i, (p, r) in enumerate(zip(poses, rendered)):
            (ex / "color" / f"{i}.jpg").write_bytes(jpg_bytes(r[0]))
            (ex / "depth" / f"{i}.png").write_bytes(png_bytes(r[1]))
            np.savetxt(ex / "pose" / f"{i}.txt", p, fmt="%f")
        for name, K in (("color", K_COLOR), ("depth", K_DEPTH)):
            m4 = np.eye(4)
            m4[:3, :3] = K
            np.savetxt(ex / "intrinsic" / f"intrinsic_{name}.txt", m4, fmt="%f")
            np.savetxt(ex / "intrinsic" / f"extrinsic_{name}.txt", np.eye(4), fmt="%f")
    filt = "" if instances == "unfiltered" else "-filt"
    for kind, idx in (("instance", 2), ("label", 3)):
        if instances == "none":
            break
        if instances == "folder":
            (d / f"{kind}{filt}").mkdir(exist_ok=True)
            for i, r in enumerate(rendered):
                (d / f"{kind}{filt}" / f"{i}.png").write_bytes(png_bytes(r[idx]))
        else:
            with zipfile.ZipFile(d / f"{scene}_2d-{kind}{filt}.zip", "w") as z:
                for i, r in enumerate(rendered):
                    z.writestr(f"{kind}{filt}/{i}.png", png_bytes(r[idx]))
    return ScanNetFixture(d, verts, faces, segs, poses, marks, inst_v)

