"""tools/infer.py --export / --scale-factor / --scale end to end on the tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from inference_fixtures import lightning_checkpoint
from scene_fixtures import with_finite_cameras

from helpers import tools_on_path


@pytest.fixture(scope="module")
def infer_main():
    tools_on_path()
    import infer

    return infer.main


@pytest.fixture(scope="module")
def finite_ckpt(tiny_model, backbone_config, tmp_path_factory):
    return lightning_checkpoint(with_finite_cameras(tiny_model), backbone_config, tmp_path_factory.mktemp("ckpt") / "finite.ckpt")


def run(infer_main, capsys, photos_dir, ckpt, out, *extra):
    code = infer_main(["--images", str(photos_dir), "--checkpoint", str(ckpt), "--out", str(out), "--quiet",
                       "--device", "cpu", "--score-threshold", "0", *extra])
    return code, capsys.readouterr()


def lift(out, name, x, y):
    """A user's own check: world point under pixel (x, y) from depth/<name>.npy and cameras.json."""
    frame = next(f for f in json.loads((out / "cameras.json").read_text())["frames"] if f["name"] == name)
    E, K = np.array(frame["cam_from_world"]), np.array(frame["intrinsics"])
    d = np.load(out / "depth" / f"{name}.npy")[y, x]
    return E[:, :3].T @ (d * np.linalg.solve(K, [x, y, 1.0]) - E[:, 3])


def test_export_all_formats(infer_main, capsys, photos, finite_ckpt, tmp_path):
    trimesh = pytest.importorskip("trimesh")
    folder, sizes = photos
    out = tmp_path / "out"
    code, io = run(infer_main, capsys, folder, finite_ckpt, out, "--export", "colmap,glb,nerfstudio")
    assert code == 0, io.err
    sparse = out / "colmap" / "sparse" / "0"
    assert all((sparse / f"{n}.txt").is_file() for n in ("cameras", "images", "points3D"))
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(sizes)
    # c.jpg is stored rotated with EXIF orientation 6: its copy is upright, as the cameras describe it
    from PIL import Image

    for name, (h, w) in sizes.items():
        with Image.open(out / "images" / name) as img:
            assert img.size == (w, h) and img.getexif().get(0x0112, 1) == 1
    cams = {line.split()[0]: line.split()[2:4] for line in (sparse / "cameras.txt").read_text().splitlines() if line[0] != "#"}
    assert [cams[str(i + 1)] for i in range(3)] == [[str(w), str(h)] for _, (h, w) in sorted(sizes.items())]
    scene = trimesh.load(out / "scene.glb")
    assert {"scene_points", "cameras"} <= set(scene.geometry)
    ply_points = len(np.asarray(__import__("open3d").io.read_point_cloud(str(out / "scene.ply")).points))
    assert len(scene.geometry["scene_points"].vertices) == ply_points
    transforms = json.loads((out / "transforms.json").read_text())
    assert [f["file_path"] for f in transforms["frames"]] == [f"images/{n}" for n in sorted(sizes)]
    assert transforms["ply_file_path"] == "scene.ply"


def test_scale_factor_multiplies_every_length(infer_main, capsys, photos, finite_ckpt, tmp_path):
    folder, _ = photos
    plain, scaled = tmp_path / "plain", tmp_path / "scaled"
    assert run(infer_main, capsys, folder, finite_ckpt, plain)[0] == 0
    assert run(infer_main, capsys, folder, finite_ckpt, scaled, "--scale-factor", "3")[0] == 0
    a = json.loads((plain / "cameras.json").read_text())
    b = json.loads((scaled / "cameras.json").read_text())
    assert a["units"].startswith("VGGT scene units (not metric") and b["units"] == "VGGT scene units x 3 (--scale-factor)"
    for fa, fb in zip(a["frames"], b["frames"]):
        np.testing.assert_allclose(np.array(fb["cam_from_world"])[:, 3], np.array(fa["cam_from_world"])[:, 3] * 3, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fb["intrinsics"], fa["intrinsics"])
        np.testing.assert_allclose(np.load(scaled / "depth" / f"{fa['name']}.npy"), np.load(plain / "depth" / f"{fa['name']}.npy") * 3, rtol=1e-5)
    ia = json.loads((plain / "instances.json").read_text())["instances"]
    ib = json.loads((scaled / "instances.json").read_text())["instances"]
    for x, y in zip(ia, ib):
        if x["box_min"] is not None:
            np.testing.assert_allclose(y["box_min"], np.array(x["box_min"]) * 3, rtol=1e-5, atol=1e-6)


def test_scale_from_two_clicks_gives_metres(infer_main, capsys, photos, finite_ckpt, tmp_path):
    folder, _ = photos
    out = tmp_path / "out"
    code, io = run(infer_main, capsys, folder, finite_ckpt, out, "--scale", "0,20,30,60,30,1.5")
    assert code == 0, io.err
    assert json.loads((out / "cameras.json").read_text())["units"].startswith("metres")
    assert np.linalg.norm(lift(out, "a", 20, 30) - lift(out, "a", 60, 30)) == pytest.approx(1.5, rel=1e-3)


@pytest.mark.parametrize("extra, message", [
    (("--export", "colmap,obj"), "--export 'obj': unknown format"),
    (("--scale", "0,1,2"), "--scale expects 'frame,x1,y1,x2,y2,METRES'"),
    (("--scale", "0,1,1,5,5,1", "--scale-factor", "2"), "either --scale-factor or --scale"),
    (("--scale", "9,1,1,5,5,1"), "--scale: frame 9 does not exist"),
])  # fmt: skip
def test_bad_export_and_scale_options(extra, message, infer_main, capsys, photos, finite_ckpt, tmp_path):
    folder, _ = photos
    out = tmp_path / "out"
    code, io = run(infer_main, capsys, folder, finite_ckpt, out, *extra)
    lines = [line for line in io.err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and message in lines[0], io.err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_export_refuses_unusable_cameras(infer_main, capsys, photos, ckpt_path, tmp_path):
    folder, _ = photos  # the plain random tiny model predicts a field of view of 0 (focal length inf)
    code, io = run(infer_main, capsys, folder, ckpt_path, tmp_path / "out", "--export", "colmap")
    assert code == 2 and "no usable camera" in io.err and not (tmp_path / "out").exists()
