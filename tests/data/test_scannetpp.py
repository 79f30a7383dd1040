"""tools/prepare_scannetpp.py on scenes written in the ScanNet++ release layout (scannetpp_fixtures.py)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import tools_on_path  # noqa: E402
from scannetpp_fixtures import (  # noqa: E402
    K_COLOR, PP_EXCLUDED, PP_SCENE, colmap_world_to_camera, write_scannetpp_scene,
)

from segvggt.data.colmap import read_colmap_text, read_nerfstudio  # noqa: E402
from segvggt.data.errors import DataError  # noqa: E402
from segvggt.data.prepared import PreparedScene  # noqa: E402
from segvggt.data.raycast import scaled_intrinsics  # noqa: E402
from segvggt.data.scannetpp import EXCLUDED_FILE, ScanNetppPrepConfig, prepare_scannetpp  # noqa: E402

# top-100 indices: table 3, cabinet 6, chair 9, office chair 11, box 15
EXPECT = {"wall_centre": 0, "floor_room_a": 0, "chair_top": 9002, "chair_front": 11005, "table_front": 3003,
          "pillow_front": 6004, "stool_front": 0}  # fmt: skip
# without map_benchmark.csv: "work table" is not a top-100 label, and "box" (no csv row) is used as is
EXPECT_RAW = dict(EXPECT, table_front=0, stool_front=15007)
NAMES = {"iphone": ["frame_000000", "frame_000001", "frame_000002"], "dslr": ["DSC00000", "DSC00001", "DSC00002"]}


def _colmap_poses(scene_dir: Path, source: str) -> dict[str, np.ndarray]:
    text = (scene_dir / source / "colmap" / "images.txt").read_text()
    return {Path(n).stem: w2c[:3] for n, w2c in colmap_world_to_camera(text).items()}


@pytest.mark.parametrize("source", ["iphone", "dslr"])
def test_pose_readers_agree_with_colmap_and_mesh(tmp_path, source):
    d, _, c2ws = write_scannetpp_scene(tmp_path, sources=(source,))
    truth = [np.linalg.inv(c)[:3] for c in c2ws]
    col = read_colmap_text(d / source / "colmap")
    name = "transforms.json" if source == "iphone" else "transforms_undistorted.json"
    ns = read_nerfstudio(d / source / "nerfstudio" / name)
    assert [f.name for f in col] == [f.name for f in ns] == NAMES[source]
    for a, b, E in zip(col, ns, truth):
        np.testing.assert_allclose(a.cam_from_world, E, atol=1e-9)
        np.testing.assert_allclose(b.cam_from_world, E, atol=1e-9)
        np.testing.assert_allclose(b.intrinsics, K_COLOR)  # undistorted pinhole camera
    # the toolkit's world convention matters: reading transform_matrix with the camera flip alone is off by O(1)
    import json

    T = np.asarray(json.loads((d / source / "nerfstudio" / name).read_text())["frames"][0]["transform_matrix"])
    naive = np.linalg.inv(T @ np.diag([1.0, -1, -1, 1]))[:3]
    assert np.abs(naive - truth[0]).max() > 0.5


def test_nerfstudio_applied_transform_is_undone(tmp_path):
    import json

    c2w = np.linalg.inv(np.vstack([[[0.0, 1, 0, 0.3], [0, 0, -1, 1.2], [-1, 0, 0, 2.0]], [[0, 0, 0, 1]]]))
    A = np.eye(4)[[0, 2, 1, 3]]  # nerfstudio's own colmap_to_json: world rows [0, 2, 1], row 2 negated
    A[2] *= -1
    T = A @ c2w @ np.diag([1.0, -1, -1, 1])
    path = tmp_path / "transforms.json"
    path.write_text(json.dumps({"fl_x": 50, "fl_y": 50, "cx": 31.5, "cy": 23.5, "w": 64, "h": 48, "applied_transform": A[:3].tolist(),
                                "frames": [{"file_path": "images/a.png", "transform_matrix": T.tolist()}]}))  # fmt: skip
    (f,) = read_nerfstudio(path)
    np.testing.assert_allclose(f.cam_from_world, np.linalg.inv(c2w)[:3], atol=1e-12)


CASES = {  # id -> (source, DSLR image folder, pose files removed)
    "iphone-colmap": ("iphone", None, ()),
    "iphone-nerfstudio": ("iphone", None, ("colmap",)),
    "dslr-release-folder": ("dslr", "resized_undistorted_images", ()),
    "dslr-undistort-folder": ("dslr", "undistorted_images", ()),
    "dslr-nerfstudio": ("dslr", "resized_undistorted_images", ("colmap",)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_prepared_scene_matches_official_gt_and_colmap_poses(tmp_path, case):
    source, dslr_dir, removed = CASES[case]
    raw = tmp_path / "raw"
    d, marks, _ = write_scannetpp_scene(raw, sources=(source,), dslr_dir=dslr_dir or "resized_undistorted_images")
    colmap = _colmap_poses(d, source)  # read before any removal: the reference
    for sub in removed:
        for f in (d / source / sub).iterdir():
            f.unlink()
        (d / source / sub).rmdir()
    s = prepare_scannetpp(raw, tmp_path / "out", ScanNetppPrepConfig(source=source, frame_skip=1, width=64))
    assert s["prepared"] == [PP_SCENE]
    st = s["scene_stats"][PP_SCENE]
    assert st["image_dir"] == f"{source}/{dslr_dir or 'rgb'}"
    nerfstudio = f"{source}/nerfstudio/" + ("transforms.json" if source == "iphone" else "transforms_undistorted.json")
    assert st["pose_source"] == (nerfstudio if removed else f"{source}/colmap/images.txt")
    assert (st["seg_groups"], st["seg_groups_mapped"], st["labels_outside_benchmark"]) == (8, 1, ["box", "stool"])
    p = PreparedScene(tmp_path / "out", PP_SCENE)
    assert p.benchmark == "scannetpp" and [f.name for f in p.frames] == NAMES[source] and p.image_size == (48, 64)
    gt = p.point_gt()
    assert {k: int(gt[marks[k]]) for k in EXPECT} == EXPECT
    assert p.instance_labels == {2: 9, 3: 3, 4: 6, 5: 11}
    np.testing.assert_array_equal(np.load(tmp_path / "out" / PP_SCENE / EXCLUDED_FILE), PP_EXCLUDED)
    K64 = scaled_intrinsics(K_COLOR, 0.5, 0.5)
    for i, f in enumerate(p.frames):
        np.testing.assert_allclose(f.cam_from_world, colmap[f.name], atol=1e-6)
        np.testing.assert_allclose(f.intrinsics, K64, atol=1e-9)
        inst, depth = p.instance(i), p.depth(i)
        for mark in ("chair_front", "table_front", "pillow_front"):
            x = f.cam_from_world @ np.append(p.points()[marks[mark]], 1.0)
            u, v = np.rint((f.intrinsics @ x)[:2] / x[2]).astype(int)
            assert inst[v, u] == gt[marks[mark]] % 1000
            assert abs(depth[v, u] - x[2]) < 0.03
        assert set(np.unique(inst)) <= {0, 2, 3, 4, 5}


def test_without_csv_raw_labels_are_looked_up_directly(tmp_path):
    raw = tmp_path / "raw"
    _, marks, _ = write_scannetpp_scene(raw, mapping=False)
    s = prepare_scannetpp(raw, tmp_path / "out", ScanNetppPrepConfig(frame_skip=1, width=64))
    assert s["label_mapping"] is None
    assert s["scene_stats"][PP_SCENE]["labels_outside_benchmark"] == ["stool", "work table"]
    gt = PreparedScene(tmp_path / "out", PP_SCENE).point_gt()
    assert {k: int(gt[marks[k]]) for k in EXPECT_RAW} == EXPECT_RAW


def test_cli_reports_mapping_folder_and_poses(tmp_path, capsys):
    tools_on_path()
    import prepare_scannetpp

    raw = tmp_path / "raw"
    write_scannetpp_scene(raw, sources=("dslr",), dslr_dir="undistorted_images")
    code = prepare_scannetpp.main(["--raw", str(raw), "--out", str(tmp_path / "out"), "--source", "dslr",
                                   "--frame-skip", "1", "--width", "64"])  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    csv = raw / "metadata" / "semantic_benchmark" / "map_benchmark.csv"
    assert out[0] == (f"label mapping: {csv} (20 rows): 1 of 8 segGroups mapped to another label; "
                      "2 labels (2 segGroups) outside the top-100 benchmark: box, stool")  # fmt: skip
    assert out[1] == "dslr images: dslr/undistorted_images (1 scene)"
    assert out[2] == "dslr poses: dslr/colmap/images.txt (1 scene)"
    assert out[3].startswith("prepared 1,")  # over-segments here: no per-vertex line


def _cli_error(args, capsys) -> str:
    tools_on_path()
    import prepare_scannetpp

    assert prepare_scannetpp.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def test_cli_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys):
    raw, out = tmp_path / "raw", tmp_path / "out"
    d, _, _ = write_scannetpp_scene(raw, sources=("iphone",))
    base = ["--raw", str(raw), "--out", str(out), "--frame-skip", "1", "--width", "64"]
    assert "no " + str(d / "dslr" / "resized_undistorted_images") in _cli_error(base + ["--source", "dslr"], capsys)
    assert "no " + str(tmp_path / "nowhere" / "data") in _cli_error(["--raw", str(tmp_path / "nowhere"), "--out", str(out)], capsys)
    assert "missing label mapping" in _cli_error(base + ["--label-map", str(tmp_path / "map.csv")], capsys)
    csv = raw / "metadata" / "semantic_benchmark" / "map_benchmark.csv"
    csv.write_text("class,count,instance_map_to\nchair,3,\n")
    assert "has no column semantic_map_to" in _cli_error(base, capsys)
    assert not (out / PP_SCENE).exists()


def test_missing_files(tmp_path):
    raw = tmp_path / "raw"
    d, _, _ = write_scannetpp_scene(raw)
    (d / "scans" / "segments_anno.json").unlink()
    with pytest.raises(DataError, match="segments_anno.json"):
        prepare_scannetpp(raw, tmp_path / "out", ScanNetppPrepConfig(frame_skip=1, width=64))
    with pytest.raises(DataError, match="not found"):
        prepare_scannetpp(raw, tmp_path / "out", ScanNetppPrepConfig(), scenes=["ffffffffff"])
    (d / "scans" / "segments_anno.json").write_text('{"segGroups": []}')
    (raw / "metadata" / "semantic_benchmark" / "top100.txt").write_text("wall\nchair\n")
    with pytest.raises(DataError, match="top100.txt is not the ScanNet\\+\\+ top-100 list"):
        prepare_scannetpp(raw, tmp_path / "out", ScanNetppPrepConfig(frame_skip=1, width=64))
