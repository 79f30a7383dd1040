"""Realistic raw ScanNet scans built from a synthetic room, written straight from this file.

A deliberately independent writer (it does not use `prepared.write_scene`, `ply.write_ply` or
`raycast.MeshRaycaster`): the room, furniture and camera orbit come from
`segvggt.data.synthetic.make_room`; everything ScanNet-specific is produced here:

- `<scene>_vh_clean_2.ply`: binary little-endian, x y z float + red green blue alpha uchar, faces as
  `list uchar int`. Each surface is subdivided to about `spacing` metres and, like a reconstruction,
  keeps only triangles that the depth camera hit in some capture frame (no undersides, no wall
  backs). The whole scan is moved by a random rigid transform (ScanNet meshes are not axis-aligned).
- `<scene>_vh_clean_2.0.010000.segs.json`: over-segments = voxel clusters of one surface part
  (never across objects), with large scattered ids like ScanNet's.
- `<scene>.aggregation.json`: one segGroup per object, wall, floor and ceiling, in shuffled order,
  labelled with ScanNet raw categories; a few small structure segments stay unannotated.
- `RAW/scannetv2-labels.combined.tsv`: rows for every raw category used.
- frames: a `.sens` file (colour JPEG, depth zlib uint16) or a SensReader export folder, colour and
  depth with ScanNet's different intrinsics (scaled to the requested sizes), camera-to-world poses.
- `<scene>_2d-instance-filt.zip` (8-bit objectId + 1) and `_2d-label-filt.zip` (16-bit raw ids) at
  colour resolution, ray cast from the annotated mesh.
Depth gets mild noise and dropout like a structured-light sensor.
"""

from __future__ import annotations

import colorsys
import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from segvggt.data import primitives as prim
from segvggt.data.classes import SYNTHETIC_NAMES
from segvggt.data.synthetic import SyntheticSpec, look_at, make_room

# raw_category -> (id, nyu40id, nyu40class), values of ScanNet's scannetv2-labels.combined.tsv
RAW_CATEGORIES = {
    "wall": (1, 1, "wall"), "chair": (2, 5, "chair"), "floor": (3, 2, "floor"), "table": (4, 7, "table"),
    "couch": (6, 6, "sofa"), "cabinet": (7, 3, "cabinet"), "desk": (9, 14, "desk"),
    "office chair": (10, 5, "chair"), "bed": (11, 4, "bed"), "bookshelf": (18, 10, "bookshelf"),
    "armchair": (23, 5, "chair"), "coffee table": (24, 7, "table"), "box": (26, 29, "box"),
    "lamp": (28, 35, "lamp"), "kitchen cabinet": (29, 3, "cabinet"), "plant": (40, 40, "otherprop"),
    "ceiling": (41, 22, "ceiling"),
}  # fmt: skip
# synthetic class -> raw categories an annotator might have typed
RAW_CHOICES = {
    "table": ("table", "coffee table"), "chair": ("chair", "office chair", "armchair"), "bed": ("bed",),
    "sofa": ("couch",), "cabinet": ("cabinet", "kitchen cabinet"), "bookshelf": ("bookshelf",), "desk": ("desk",),
    "lamp": ("lamp",), "box": ("box",), "plant": ("plant",),
}  # fmt: skip
TSV_COLUMNS = ("id raw_category category count nyu40id eigen13id nyuClass nyu40class eigen13class ModelNet40 "
               "ModelNet10 ShapeNetCore55 synsetoffset wnsynsetid wnsynsetkey mpcat40 mpcat40index").split()  # fmt: skip
# ScanNet's calibration (1296x968 colour, 640x480 depth): fx, fy, cx, cy
COLOR_CALIB, DEPTH_CALIB = (1170.19, 1170.19, 647.75, 483.75), (571.62, 571.62, 319.5, 239.5)


@dataclass(frozen=True)
class ScanNetLayout:
    """What was written, for checks. M mesh vertices, F capture frames."""

    scene_dir: Path
    vertices: np.ndarray  # [M, 3] float32, as in the PLY
    faces: np.ndarray  # [T, 3] int64
    seg_indices: np.ndarray  # [M] int64
    object_id: np.ndarray  # [M] int64 aggregation objectId, -1 = unannotated
    raw_category: dict[int, str]  # objectId -> raw category
    camera_to_world: np.ndarray  # [F, 4, 4]

    def point_gt(self, benchmark: str = "scannet") -> np.ndarray:
        """[M] int64 label * 1000 + objectId + 1 (0 where unannotated); label = nyu40id (scannet) or id (scannet200)."""
        column = 1 if benchmark == "scannet" else 0
        label = {o: RAW_CATEGORIES[c][column] for o, c in self.raw_category.items()}
        lut = np.zeros(max(label) + 2, dtype=np.int64)
        for o, lab in label.items():
            lut[o] = lab * 1000 + o + 1
        return np.where(self.object_id >= 0, lut[self.object_id], 0)


def calibration(calib: tuple[float, ...], native_wh: tuple[int, int], hw: tuple[int, int]) -> np.ndarray:
    """[3, 3] ScanNet intrinsics resized from the native size to (h, w) (pixel centres at integers)."""
    sx, sy = hw[1] / native_wh[0], hw[0] / native_wh[1]
    fx, fy, cx, cy = calib
    return np.array([[fx * sx, 0, (cx + 0.5) * sx - 0.5], [0, fy * sy, (cy + 0.5) * sy - 0.5], [0, 0, 1.0]])


def subdivide(vertices: np.ndarray, faces: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Halve every triangle at the midpoint of its longest edge until no edge exceeds `spacing`
    (slivers such as thin legs grow linearly, not quadratically), then merge coincident vertices."""
    tri = vertices[faces].astype(np.float64)  # [T, 3 corners, 3]
    done = []
    while len(tri):
        edge = np.linalg.norm(tri[:, [1, 2, 0]] - tri, axis=2)  # edge k joins corner k and k + 1
        small = edge.max(1) <= spacing
        done.append(tri[small])
        tri, edge = tri[~small], edge[~small]
        k = edge.argmax(1)
        a, b, c = (tri[np.arange(len(tri)), (k + s) % 3] for s in range(3))
        m = (a + b) / 2
        tri = np.concatenate([np.stack([a, m, c], 1), np.stack([m, b, c], 1)])
    points = np.concatenate(done).reshape(-1, 3)
    _, first, inverse = np.unique(np.round(points / 1e-5).astype(np.int64), axis=0, return_index=True, return_inverse=True)
    return points[first], inverse.reshape(-1, 3)


def room_mesh(room, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Subdivided surfaces of every part -> (vertices [M, 3], faces [T, 3], part [M]); structure slabs
    keep only the faces that look into the room."""
    inside = room.size / 2
    verts, faces, part, n = [], [], [], 0
    for p, mesh in enumerate(room.meshes):
        v, f = np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.triangles, dtype=np.int64)
        if room.part_instance[p] == 0:
            t = v[f]
            normal = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
            f = f[np.einsum("tc,tc->t", normal, inside - t.mean(1)) > 0]
        v, f = subdivide(v, f, spacing)
        verts.append(v)
        faces.append(f + n)
        part.append(np.full(len(v), p))
        n += len(v)
    return np.concatenate(verts), np.concatenate(faces), np.concatenate(part)


def cast(scene, c2w: np.ndarray, K: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """-> (z-depth [h, w] float64, inf = miss; triangle id [h, w] int64, -1 = miss)."""
    import open3d as o3d

    h, w = hw
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    d_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1).reshape(-1, 3)
    rays = np.concatenate([np.broadcast_to(c2w[:3, 3], d_cam.shape), d_cam @ c2w[:3, :3].T], 1)
    hit = scene.cast_rays(o3d.core.Tensor(rays.astype(np.float32)), nthreads=1)
    t = hit["t_hit"].numpy().astype(np.float64).reshape(h, w)
    prim = hit["primitive_ids"].numpy().astype(np.int64).reshape(h, w)
    return t, np.where(np.isfinite(t), prim, -1)


def raycasting_scene(vertices: np.ndarray, faces: np.ndarray):
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(vertices.astype(np.float32)), o3d.core.Tensor(faces.astype(np.uint32)))
    return scene


def over_segments(vertices: np.ndarray, part: np.ndarray, voxel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """[M] segment ids: one per (part, voxel cell), ids scattered like ScanNet's (vertex-index-like)."""
    cells = np.floor(vertices / voxel[:, None]).astype(np.int64)
    _, seg = np.unique(np.concatenate([part[:, None], cells], 1), axis=0, return_inverse=True)
    seg = seg.reshape(-1)
    ids = rng.choice(10 * len(vertices) + 10, size=seg.max() + 1, replace=False)
    return ids[seg].astype(np.int64)


def ply_bytes(vertices: np.ndarray, colors: np.ndarray, faces: np.ndarray) -> bytes:
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment VCGLIB generated\n"
        f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()
    vrec = np.zeros(len(vertices), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgba", "u1", (4,))])
    vrec["x"], vrec["y"], vrec["z"] = vertices.T
    vrec["rgba"][:, :3], vrec["rgba"][:, 3] = colors, 255
    frec = np.zeros(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    frec["n"], frec["idx"] = 3, faces
    return header + vrec.tobytes() + frec.tobytes()


def encode(arr: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buf.getvalue()


def sens_bytes(K_color, K_depth, color_hw, depth_hw, frames) -> bytes:
    """ScanNet .sens v4: frames = [(camera_to_world [4, 4], colour jpeg bytes, depth uint16 [h, w])]."""

    def m44(K):
        m = np.eye(4)
        m[:3, :3] = K
        return m.astype("<f4").tobytes()

    out = [struct.pack("<I", 4), struct.pack("<Q", 11), b"StructureIO"]
    out += [m44(K_color), np.eye(4, dtype="<f4").tobytes(), m44(K_depth), np.eye(4, dtype="<f4").tobytes()]
    out.append(struct.pack("<ii", 2, 1) + struct.pack("<IIII", color_hw[1], color_hw[0], depth_hw[1], depth_hw[0]))
    out.append(struct.pack("<f", 1000.0) + struct.pack("<Q", len(frames)))
    for k, (c2w, jpg, depth) in enumerate(frames):
        zdepth = zlib.compress(depth.astype("<u2").tobytes())
        out += [np.asarray(c2w, "<f4").tobytes(), struct.pack("<QQQQ", 33 * k, 33 * k, len(jpg), len(zdepth)), jpg, zdepth]
    return b"".join(out)


def furnish(rng: np.random.Generator, room, eyes: np.ndarray, count: int) -> list[np.ndarray]:
    """Add up to `count` pieces of furniture to `room` (in place), most backed against a wall as in
    real rooms and clear of every camera; big classes are favoured. Returns the albedo [3] per new part."""
    names = ("bed", "sofa", "table", "desk", "cabinet", "bookshelf", "chair", "chair", "table", "box", "lamp", "plant")
    boxes, albedo = [], []
    for _ in range(60 * count):
        if len(boxes) == count:
            break
        name = names[int(rng.integers(len(names)))]
        item = prim.BUILDERS[prim.LABEL[name]](rng)
        wall = int(rng.integers(4))  # the object's back (-y in its frame) faces this wall
        yaw = (0.0, np.pi, -np.pi / 2, np.pi / 2)[wall] + rng.uniform(-0.05, 0.05)
        half = np.abs(np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])) @ (np.array(item.footprint) / 2)
        lo, hi = half + 0.04, room.size[:2] - half - 0.04
        if np.any(lo >= hi):
            continue
        pos = rng.uniform(lo, hi)
        if rng.random() < 0.75:  # against the wall: walls 0, 1, 2, 3 = y = 0, y = Ly, x = 0, x = Lx
            axis = 1 if wall < 2 else 0
            pos[axis] = (lo if wall in (0, 2) else hi)[axis]
        if any(np.all(np.abs(pos - c) < half + h + 0.1) for c, h in boxes):
            continue
        if np.any(np.all(np.abs(eyes[:, :2] - pos) < half + 0.3, axis=1)):
            continue
        boxes.append((pos, half))
        instance = max(room.part_instance) + 1
        hue = prim.CLASS_HUE[item.label_id] + rng.uniform(-0.03, 0.03)
        base = np.array(colorsys.hsv_to_rgb(hue % 1.0, rng.uniform(0.4, 0.8), rng.uniform(0.5, 0.9)))
        for part in item.parts:
            room.meshes.append(prim.part_mesh(part, yaw, pos))
            room.part_label.append(item.label_id)
            room.part_instance.append(instance)
            albedo.append(np.clip(base * part.tone, 0, 1))
    return albedo


def scan_path(rng: np.random.Generator, room, eyes: np.ndarray) -> np.ndarray:
    """cam_from_world [F, 3, 4] of a smooth scan: walking once round the orbit `eyes` [F, 3], the
    operator films the objects one after another, each for a run of consecutive frames (so any
    frame skip keeps every object), in the order of their bearing from the room centre, starting
    with the one opposite the first eye. Objects closer than 0.8 m get the orbit's own
    across-the-room view instead."""
    part_instance = np.asarray(room.part_instance)
    centres = []
    for inst in np.unique(part_instance[part_instance > 0]):
        v = np.concatenate([np.asarray(room.meshes[p].vertices) for p in np.nonzero(part_instance == inst)[0]])
        centres.append((v.min(0) + v.max(0)) / 2)
    if not centres:
        return room.cam_from_world
    centres, middle = np.asarray(centres), room.size[:2] / 2
    bearing = lambda xy: np.arctan2(xy[..., 1] - middle[1], xy[..., 0] - middle[0])  # noqa: E731
    turn = np.sign(np.sin(bearing(eyes[1]) - bearing(eyes[0]))) if len(eyes) > 1 else 1.0
    start = bearing(eyes[0]) + np.pi
    centres = centres[np.argsort(((bearing(centres[:, :2]) - start) * turn) % (2 * np.pi))]
    poses = []
    for k, eye in enumerate(eyes):
        c = centres[k * len(centres) // len(eyes)]
        if np.linalg.norm(c[:2] - eye[:2]) > 0.8:
            poses.append(look_at(eye, c + rng.normal(scale=0.05, size=3)))
        else:
            poses.append(room.cam_from_world[k])
    return np.stack(poses)


def _rigid(rng: np.random.Generator) -> np.ndarray:
    a = rng.uniform(0, 2 * np.pi)
    T = np.eye(4)
    T[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    T[:3, 3] = rng.uniform(-3, 3, size=3)
    return T


def write_scannet_layout(
    raw: Path, scene_id: str, seed: int, frames: int = 50, *, color_hw: tuple[int, int] = (484, 648),
    depth_hw: tuple[int, int] = (240, 320), spacing: float = 0.06, frame_format: str = "sens",
    min_objects: int = 4, max_objects: int = 7, depth_noise: float = 0.003, depth_dropout: float = 0.02,
    unannotated: float = 0.03,
) -> ScanNetLayout:  # fmt: skip
    """Write RAW/scans/<scene_id>/ (and RAW/scannetv2-labels.combined.tsv) in ScanNet's raw layout.

    frames: capture frames along the orbit; color_hw / depth_hw: (h, w) of the colour and depth
    images; spacing: mesh vertex spacing in metres; frame_format: 'sens' or 'export' (SensReader
    folder `exported/`); depth_noise: noise std in metres at 1 m (grows with depth squared);
    depth_dropout: share of invalid depth pixels; unannotated: share of structure segments left out
    of every segGroup.
    """
    rng = np.random.default_rng([seed, 7])
    # make_room gives the shell and the camera orbit (and a few objects clear of it); `furnish` adds
    # wall-side furniture, which make_room rarely fits, so beds, sofas and tables appear too
    spec = SyntheticSpec(frames=frames, min_objects=0, max_objects=min_objects // 2)
    room, eyes = make_room(rng, spec)
    albedo_of_part = list(room.look.albedo) + furnish(rng, room, eyes, int(rng.integers(min_objects, max_objects + 1)))
    albedo_of_part = np.stack(albedo_of_part)
    room.cam_from_world = scan_path(rng, room, eyes)
    verts, faces, part = room_mesh(room, spacing)
    T = _rigid(rng)
    c2w = np.stack([np.linalg.inv(np.vstack([E, [0, 0, 0, 1]])) for E in room.cam_from_world])
    c2w = T @ c2w
    verts = verts @ T[:3, :3].T + T[:3, 3]
    K_color = calibration(COLOR_CALIB, (1296, 968), color_hw)
    K_depth = calibration(DEPTH_CALIB, (640, 480), depth_hw)

    # the "reconstruction", like a TSDF fusion of the depth stream: triangles with a vertex that some
    # depth frame observed (within 2 cm), so thin legs survive but undersides and wall backs do not
    full = raycasting_scene(verts, faces)
    observed = np.zeros(len(verts), dtype=bool)
    sensor_depth = []
    for pose in c2w:
        t, _ = cast(full, pose, K_depth, depth_hw)
        z_img = np.where(np.isfinite(t), t, 0.0)
        sensor_depth.append(z_img)
        cam = (verts - pose[:3, 3]) @ pose[:3, :3]
        z = np.maximum(cam[:, 2], 1e-9)
        col = np.floor(K_depth[0, 0] * cam[:, 0] / z + K_depth[0, 2] + 0.5).astype(np.int64)
        row = np.floor(K_depth[1, 1] * cam[:, 1] / z + K_depth[1, 2] + 0.5).astype(np.int64)
        inside = (cam[:, 2] > 0.05) & (col >= 0) & (col < depth_hw[1]) & (row >= 0) & (row < depth_hw[0])
        d = np.where(inside, z_img[np.clip(row, 0, depth_hw[0] - 1), np.clip(col, 0, depth_hw[1] - 1)], 0.0)
        observed |= inside & (d > 0) & (np.abs(d - cam[:, 2]) < 0.02)
    seen_faces = observed[faces].any(1)
    faces = faces[seen_faces]
    used = np.unique(faces)
    remap = np.full(len(verts), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    verts, faces, part = verts[used].astype(np.float32), remap[faces], part[used]

    # objects: floor, ceiling, each wall, each furniture instance; raw categories and segments
    object_of_part, raw_of_object = [], []
    furniture: dict[int, int] = {}
    for p, (label, inst) in enumerate(zip(room.part_label, room.part_instance)):
        name = SYNTHETIC_NAMES[label - 1]
        if inst == 0:
            raw_name = "floor" if p == 0 else ("ceiling" if p == 1 else "wall")
        elif inst in furniture:
            object_of_part.append(furniture[inst])
            continue
        else:
            raw_name = str(rng.choice(RAW_CHOICES[name]))
            furniture[inst] = len(raw_of_object)
        object_of_part.append(len(raw_of_object))
        raw_of_object.append(raw_name)
    order = rng.permutation(len(raw_of_object))  # objectId = position in segGroups, shuffled
    object_id_of = np.argsort(order)  # object k -> objectId
    structure = np.asarray(room.part_instance)[part] == 0
    voxel = np.where(structure, 0.3, 0.12)
    seg = over_segments(verts, part, voxel, rng)
    obj = object_id_of[np.asarray(object_of_part)[part]]
    dropped = set()
    struct_segs = np.unique(seg[structure])
    if unannotated > 0 and len(struct_segs):
        dropped = set(rng.choice(struct_segs, size=int(unannotated * len(struct_segs)), replace=False).tolist())
    object_id = np.where(np.isin(seg, list(dropped)), -1, obj)
    # objects the scan never saw (e.g. the ceiling) get no segGroup; objectIds stay consecutive
    present = [o for o in range(len(order)) if (obj == o).any()]
    new_id = np.full(len(order) + 1, -1, dtype=np.int64)
    new_id[present] = np.arange(len(present))
    object_id = new_id[object_id]
    groups = []
    for o, old in enumerate(present):
        segments = np.unique(seg[object_id == o]).tolist()
        groups.append({"id": o, "objectId": o, "segments": segments, "label": raw_of_object[order[old]]})
    raw_category = {g["objectId"]: g["label"] for g in groups}

    d = raw / "scans" / scene_id
    d.mkdir(parents=True, exist_ok=True)
    albedo = np.clip(albedo_of_part[part] * 255, 0, 255).astype(np.uint8)
    (d / f"{scene_id}_vh_clean_2.ply").write_bytes(ply_bytes(verts, albedo, faces))
    (d / f"{scene_id}_vh_clean_2.0.010000.segs.json").write_text(json.dumps(
        {"params": {"kThresh": "0.0001", "segMinVerts": "20", "minPoints": "0", "maxPoints": "0", "thinThresh": "0",
                    "flatThresh": "0", "minLength": "0", "maxLength": "0"}, "sceneId": scene_id,
         "segIndices": seg.tolist()}))  # fmt: skip
    (d / f"{scene_id}.aggregation.json").write_text(json.dumps(
        {"sceneId": f"scannet.{scene_id}", "appId": "Aggregator.v2", "annotationId": "", "segGroups": groups,
         "segmentsFile": f"scannet.{scene_id}_vh_clean_2.0.010000.segs.json"}))  # fmt: skip
    with open(raw / "scannetv2-labels.combined.tsv", "w", encoding="utf-8") as f:
        f.write("\t".join(TSV_COLUMNS) + "\n")
        for name, (rid, nyu, nyu_class) in sorted(RAW_CATEGORIES.items(), key=lambda kv: kv[1][0]):
            row = [str(rid), name, name, str(100 + rid), str(nyu), "", name, nyu_class] + [""] * 7 + [nyu_class, ""]
            f.write("\t".join(row) + "\n")

    # frames and the 2D annotations, ray cast from the annotated (reconstructed) mesh
    mesh = raycasting_scene(verts, faces)
    tri_obj = object_id[faces[:, 0]]  # one part per triangle; unannotated triangles -> -1
    raw_id = np.zeros(len(groups) + 1, dtype=np.int64)  # objectId + 1 -> raw id, 0 = unannotated
    raw_id[1:] = [RAW_CATEGORIES[g["label"]][0] for g in groups]
    tri_raw = raw_id[tri_obj + 1]
    tri_rgb = albedo_of_part[part[faces[:, 0]]]
    inst_pngs, label_pngs, colors, depths = [], [], [], []
    for k, pose in enumerate(c2w):
        _, tri = cast(mesh, pose, K_color, color_hw)
        hit = tri >= 0
        inst = np.where(hit, tri_obj[np.maximum(tri, 0)] + 1, 0)
        inst_pngs.append(encode(inst.astype(np.uint8), "PNG"))
        label_pngs.append(encode(np.where(hit, tri_raw[np.maximum(tri, 0)], 0).astype(np.uint16), "PNG"))
        shade = 0.55 + 0.45 * rng.uniform(0.9, 1.0)
        rgb = np.where(hit[..., None], tri_rgb[np.maximum(tri, 0)] * shade, 0.05)
        colors.append(encode(np.clip(rgb * 255, 0, 255).astype(np.uint8), "JPEG"))
        z = sensor_depth[k]
        z = z + rng.normal(size=z.shape) * depth_noise * z**2
        z[rng.random(z.shape) < depth_dropout] = 0
        depths.append(np.clip(np.round(z * 1000), 0, 65535).astype(np.uint16))
    if frame_format == "sens":
        frames_data = [(pose, c, dm) for pose, c, dm in zip(c2w, colors, depths)]
        (d / f"{scene_id}.sens").write_bytes(sens_bytes(K_color, K_depth, color_hw, depth_hw, frames_data))
    elif frame_format == "export":
        ex = d / "exported"
        for sub in ("color", "depth", "pose", "intrinsic"):
            (ex / sub).mkdir(parents=True, exist_ok=True)
        for k, (pose, c, dm) in enumerate(zip(c2w, colors, depths)):
            (ex / "color" / f"{k}.jpg").write_bytes(c)
            (ex / "depth" / f"{k}.png").write_bytes(encode(dm, "PNG"))
            np.savetxt(ex / "pose" / f"{k}.txt", pose, fmt="%.6f")
        for name, K in (("color", K_color), ("depth", K_depth)):
            m = np.eye(4)
            m[:3, :3] = K
            np.savetxt(ex / "intrinsic" / f"intrinsic_{name}.txt", m, fmt="%.6f")
            np.savetxt(ex / "intrinsic" / f"extrinsic_{name}.txt", np.eye(4), fmt="%.6f")
    else:
        raise ValueError(f"frame_format must be 'sens' or 'export', got {frame_format!r}")
    for kind, pngs in (("instance", inst_pngs), ("label", label_pngs)):
        with zipfile.ZipFile(d / f"{scene_id}_2d-{kind}-filt.zip", "w", zipfile.ZIP_STORED) as z:
            for k, png in enumerate(pngs):
                z.writestr(f"{kind}-filt/{k}.png", png)
    return ScanNetLayout(d, verts, faces, seg, object_id, raw_category, c2w)
