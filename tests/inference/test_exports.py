"""COLMAP / GLB / nerfstudio exports of a hand-built scene, read back with independent readers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scene_fixtures import H, S, W, camera, known_scene

from segvggt.inference import exports, writers
from segvggt.inference.exports_colmap import rotation_to_quaternion


def quaternion_to_rotation(q) -> np.ndarray:
    """Hamilton (w, x, y, z) -> 3x3, the formula COLMAP/Eigen use (written out here independently)."""
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def read_colmap_text(folder):
    """A minimal reader of COLMAP's text format (cameras, images with their 2D points, points3D)."""
    def rows(name):
        return [line.split() for line in (folder / name).read_text().splitlines() if line and not line.startswith("#")]

    cameras = {int(r[0]): (r[1], int(r[2]), int(r[3]), [float(v) for v in r[4:]]) for r in rows("cameras.txt")}
    lines = [line for line in (folder / "images.txt").read_text().splitlines() if not line.startswith("#")]
    images = {}
    for head, obs in zip(lines[0::2], lines[1::2]):
        r = head.split()
        values = obs.split()
        points2d = [(float(values[k]), float(values[k + 1]), int(values[k + 2])) for k in range(0, len(values), 3)]
        images[int(r[0])] = dict(q=[float(v) for v in r[1:5]], t=[float(v) for v in r[5:8]], camera=int(r[8]),
                                 name=r[9], points2d=points2d)
    points = {}
    for r in rows("points3D.txt"):
        track = [(int(r[k]), int(r[k + 1])) for k in range(8, len(r), 2)]
        points[int(r[0])] = dict(xyz=[float(v) for v in r[1:4]], rgb=[int(v) for v in r[4:7]], error=float(r[7]), track=track)
    return cameras, images, points


@pytest.fixture()
def scene(tmp_path):
    return known_scene(tmp_path / "photos")


def test_quaternions_known_and_round_trip():
    np.testing.assert_allclose(rotation_to_quaternion(np.eye(3)), [1, 0, 0, 0])
    Rz90 = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])  # 90 deg about z: q = (cos 45, 0, 0, sin 45)
    np.testing.assert_allclose(rotation_to_quaternion(Rz90), [np.sqrt(0.5), 0, 0, np.sqrt(0.5)], atol=1e-12)
    Rx180 = np.diag([1.0, -1, -1])  # w = 0: the branch that divides by x
    np.testing.assert_allclose(np.abs(rotation_to_quaternion(Rx180)), [0, 1, 0, 0], atol=1e-12)
    rng = np.random.default_rng(0)
    q = rng.normal(size=(200, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    R = np.stack([quaternion_to_rotation(v) for v in q])
    back = rotation_to_quaternion(R)
    assert (back[:, 0] >= 0).all()
    np.testing.assert_allclose(back, q * np.sign(q[:, :1]), atol=1e-9)


def test_colmap_text_model_matches_cameras_json(scene, tmp_path):
    result, pixels = scene
    out = tmp_path / "out"
    out.mkdir()
    writers.write_cameras(result, out)
    keep = writers.confident_points(result, 25.0)
    exports.write_exports(result, out, ("colmap",), keep)
    cams_json = json.loads((out / "cameras.json").read_text())["frames"]
    cameras, images, points = read_colmap_text(out / "colmap" / "sparse" / "0")

    assert sorted(p.name for p in (out / "images").iterdir()) == [f"photo_{i}.png" for i in range(S)]
    assert len(cameras) == len(images) == S
    for i, frame in enumerate(cams_json):
        model, w, h, (fx, fy, cx, cy) = cameras[i + 1]
        K = np.array(frame["intrinsics"])
        assert (model, w, h) == ("PINHOLE", frame["width"], frame["height"]) == ("PINHOLE", W, H)
        # COLMAP's pixel centres are at +0.5 of ours
        np.testing.assert_allclose([fx, fy, cx, cy], [K[0, 0], K[1, 1], K[0, 2] + 0.5, K[1, 2] + 0.5], rtol=1e-6)
        image = images[i + 1]
        assert image["camera"] == i + 1 and image["name"] == f"photo_{i}.png"
        E = np.array(frame["cam_from_world"])
        np.testing.assert_allclose(quaternion_to_rotation(image["q"]), E[:, :3], atol=1e-6)
        np.testing.assert_allclose(image["t"], E[:, 3], atol=1e-6)
        np.testing.assert_allclose(E, camera(i)[0], atol=1e-6)  # and cameras.json holds the known camera

    # the confident points, each observed once: at its source pixel (+0.5) in its own photo
    assert len(points) == int(keep.sum()) > 0
    kept = np.nonzero(keep)[0]
    for pid, point in points.items():
        m = kept[pid - 1]
        np.testing.assert_allclose(point["xyz"], result.points[m], atol=1e-5)
        assert point["rgb"] == result.colors[m].tolist() and point["error"] == 0
        (image_id, idx), = point["track"]
        assert image_id == result.views[m] + 1
        x, y, back = images[image_id]["points2d"][idx]
        assert back == pid
        np.testing.assert_allclose([x, y], pixels[m] + 0.5, atol=1e-4)
    assert sum(len(im["points2d"]) for im in images.values()) == len(points)


def test_colmap_point_cap_keeps_a_seeded_subset(scene, tmp_path):
    from segvggt.inference.exports_colmap import write_colmap

    result, _ = scene
    keep = np.ones(len(result.points), bool)
    folder = write_colmap(result, tmp_path, keep, exports.image_file_names(result), max_points=50)
    _, images, points = read_colmap_text(folder)
    assert len(points) == 50 == sum(len(im["points2d"]) for im in images.values())


def test_colmap_binary_read_by_pycolmap(scene, tmp_path):
    pycolmap = pytest.importorskip("pycolmap", reason="pycolmap (optional extra segvggt[colmap]) not installed")
    result, _ = scene
    keep = writers.confident_points(result, 25.0)
    folder = result.export_colmap(tmp_path / "out")
    for name in ("cameras", "images", "points3D"):
        assert (folder / f"{name}.bin").is_file()
        (folder / f"{name}.txt").unlink()  # make sure pycolmap reads the binary files
    rec = pycolmap.Reconstruction(str(folder))
    assert rec.num_images() == S and rec.num_points3D() == int(keep.sum())
    for image_id, image in rec.images.items():
        i = int(image.name.split("_")[1].split(".")[0])
        np.testing.assert_allclose(image.cam_from_world().matrix(), camera(i)[0], atol=1e-5)
        assert rec.cameras[image.camera_id].model.name == "PINHOLE"


def test_glb_reloads_with_trimesh(scene, tmp_path):
    trimesh = pytest.importorskip("trimesh", reason="trimesh (extra segvggt[export]) not installed")
    result, _ = scene
    keep = writers.confident_points(result, 25.0)
    path = result.export_glb(tmp_path / "scene.glb")
    loaded = trimesh.load(path)
    assert set(loaded.geometry) == {"scene_points", "instance_points", "cameras", "instance_boxes"}
    flip = np.array([1.0, -1.0, -1.0])  # glTF y-up: y and z negated
    cloud = loaded.geometry["scene_points"]
    np.testing.assert_allclose(cloud.vertices, result.points[keep] * flip, atol=1e-5)
    np.testing.assert_array_equal(cloud.colors[:, :3], result.colors[keep])
    labelled = keep & (result.instance_ids > 0)
    inst = loaded.geometry["instance_points"]
    assert len(inst.vertices) == int(labelled.sum())
    from segvggt.inference.writers import instance_palette

    np.testing.assert_array_equal(inst.colors[:, :3], instance_palette(2)[result.instance_ids[labelled]])

    def has_vertex(geometry, point):
        return np.linalg.norm(geometry.vertices - point * flip, axis=1).min() < 1e-5

    for i in range(S):  # every frustum's apex is its camera centre
        E, _ = camera(i)
        assert has_vertex(loaded.geometry["cameras"], -E[:, :3].T @ E[:, 3])
    for n in (1, 2):  # every box corner of every instance
        own = result.points[keep & (result.instance_ids == n)]
        lo, hi = own.min(0), own.max(0)
        for corner in ([lo[0], lo[1], lo[2]], [hi[0], hi[1], hi[2]], [lo[0], hi[1], lo[2]]):
            assert has_vertex(loaded.geometry["instance_boxes"], np.array(corner))
    # glTF LINES: two vertices per segment; 11 segments per frustum, 12 per box
    assert len(loaded.geometry["cameras"].vertices) == 2 * 11 * S
    assert len(loaded.geometry["instance_boxes"].vertices) == 2 * 12 * 2


def test_nerfstudio_transforms_use_opengl_camera_axes(scene, tmp_path):
    result, _ = scene
    path = result.export_nerfstudio(tmp_path / "out")
    data = json.loads(path.read_text())
    frames = data["frames"]
    assert data["camera_model"] == "OPENCV" and len(frames) == S
    assert [f["file_path"] for f in frames] == [f"images/photo_{i}.png" for i in range(S)]
    assert all((path.parent / f["file_path"]).is_file() for f in frames)
    # view 0: identity camera -> OpenGL camera-to-world flips the camera's y and z axes
    np.testing.assert_allclose(frames[0]["transform_matrix"], np.diag([1.0, -1, -1, 1]), atol=1e-7)
    # view 1: R = rot_y(20 deg), t = (0.3, -0.1, 0.2); centre -R^T t and columns (x, -y, -z) computed by hand
    c, s = 0.9396926208, 0.3420201433
    expected = [[c, 0, s, -0.2135045], [0, -1, 0, 0.1], [s, 0, -c, -0.2905446], [0, 0, 0, 1]]
    np.testing.assert_allclose(frames[1]["transform_matrix"], expected, atol=1e-6)
    # intrinsics per frame, pixel centres at +0.5
    assert [(f["fl_x"], f["fl_y"], f["cx"], f["cy"], f["w"], f["h"]) for f in frames[:2]] == [
        (20.0, 22.0, 8.0, 5.75, W, H), (21.0, 23.0, 8.0, 5.75, W, H)]
    # a world point seen by view 1 projects where nerfstudio's pinhole model puts it
    c2w = np.array(frames[1]["transform_matrix"])
    p_world = result.points[result.views == 1][37]
    p_gl = np.linalg.inv(c2w) @ np.append(p_world, 1)
    u = frames[1]["fl_x"] * p_gl[0] / -p_gl[2] + frames[1]["cx"] - 0.5
    v = frames[1]["fl_y"] * -p_gl[1] / -p_gl[2] + frames[1]["cy"] - 0.5
    np.testing.assert_allclose([u, v], [37 % W, 37 // W], atol=1e-4)


def test_unknown_export_and_missing_camera_are_one_line_errors(scene):
    from segvggt.inference.errors import InferenceError

    with pytest.raises(InferenceError, match="unknown format; choose from colmap, glb, nerfstudio"):
        exports.parse_exports("colmap,ply")
    assert exports.parse_exports("glb, colmap,glb") == ("glb", "colmap")
    result, _ = scene
    result.intrinsics[1, 0, 0] = np.inf
    with pytest.raises(InferenceError, match=r"no usable camera for 1 photo\(s\) \(photo_1"):
        exports.check_cameras(result, ("colmap",))
