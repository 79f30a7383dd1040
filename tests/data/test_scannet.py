import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from scannet_fixtures import K_DEPTH, SCENE, write_scannet_scene  # noqa: E402

from segvggt.data.errors import DataError  # noqa: E402
from segvggt.data.prepared import PreparedScene, read_split  # noqa: E402
from segvggt.data.scannet import (  # noqa: E402
    ScanNetPrepConfig, export_point_gt, prepare_scannet, read_label_map,
)

SIZE = (64, 48)
REPO = Path(__file__).resolve().parents[2]


def cfg(benchmark="scannet", **kw):
    return ScanNetPrepConfig(benchmark=benchmark, frame_skip=kw.pop("frame_skip", 1), size=kw.pop("size", SIZE), **kw)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    fx = write_scannet_scene(root, frames="both")
    return root, fx


def test_label_map_and_official_export_rule(raw):
    lm = read_label_map(raw[0] / "scannetv2-labels.combined.tsv")
    assert [lm.label_of(c, "scannet") for c in ("wall", "floor", "chair", "pillow", "stool cushion", "??")] == [1, 2, 5, 18, 5, 0]
    assert [lm.label_of(c, "scannet200") for c in ("wall", "floor", "chair", "pillow", "stool cushion")] == [1, 3, 2, 13, 0]
    # overlap: groups A(chair, seg 0), B(table, seg 0+1), C(chair, seg 1). Labels are written per label in
    # order of first appearance (chair, then table), so table wins both segments; instances per group: last wins.
    seg = np.array([0, 0, 1, 2])
    groups = [{"objectId": 0, "label": "chair", "segments": [0]}, {"objectId": 1, "label": "table", "segments": [0, 1]},
              {"objectId": 2, "label": "chair", "segments": [1, 9]}]  # fmt: skip
    gt, stats = export_point_gt(seg, groups, {"chair": 5, "table": 7}.get)
    np.testing.assert_array_equal(gt, [7002, 7002, 7003, 0])
    assert stats["unknown_segments"] == 1


@pytest.mark.parametrize("benchmark", ["scannet", "scannet200"])
def test_prepare_sens_scene(raw, tmp_path, benchmark):
    root, fx = raw
    s = prepare_scannet(root, tmp_path, cfg(benchmark, frame_source="sens"))
    assert s["prepared"] == [SCENE] and s["frames_skipped_nonfinite_pose"] == 1
    p = PreparedScene(tmp_path, SCENE)
    assert [f.name for f in p.frames] == ["000000", "000001", "000003"]
    gt = p.point_gt()
    m = fx.landmarks
    expect = {  # hand-computed: label*1000 + objectId+1
        "scannet": {"wall_centre": 1001, "floor_room_a": 2002, "floor_room_b": 2002, "chair_top": 5003,
                    "table_front": 7004, "pillow_front": 18005, "stool_front": 5006},
        "scannet200": {"wall_centre": 1001, "floor_room_a": 3002, "floor_room_b": 3002, "chair_top": 2003,
                       "table_front": 4004, "pillow_front": 13005, "stool_front": 6},
    }[benchmark]  # fmt: skip
    assert {k: int(gt[m[k]]) for k in expect} == expect
    assert p.instance_labels == ({3: 5, 4: 7, 6: 5} if benchmark == "scannet" else {3: 2, 4: 4, 5: 13})
    np.testing.assert_array_equal(p.superpoints(), fx.seg_indices)
    np.testing.assert_allclose(p.points(), fx.vertices, atol=1e-6)
    txt = np.loadtxt(tmp_path / "gt_instance" / f"{SCENE}.txt", dtype=np.int64)
    np.testing.assert_array_equal(txt, gt)
    # poses: cam_from_world = inverse(camera_to_world) of the .sens
    for f, src in zip(p.frames, [0, 1, 3]):
        np.testing.assert_allclose(np.vstack([f.cam_from_world, [0, 0, 0, 1]]) @ fx.camera_to_world[src], np.eye(4), atol=1e-5)
        np.testing.assert_allclose(f.intrinsics, K_DEPTH)  # working size = depth size
    # a visible vertex projects onto its own instance id, and the stored depth matches its z
    visible = {3: "chair_front", 4: "table_front"}
    if benchmark == "scannet":
        visible[6] = "stool_front"
    else:
        visible[5] = "pillow_front"
    for i, f in enumerate(p.frames):
        inst, depth = p.instance(i), p.depth(i)
        for iid, mark in visible.items():
            x = f.cam_from_world @ np.append(fx.vertices[m[mark]], 1.0)
            u, v = np.rint((f.intrinsics @ x)[:2] / x[2]).astype(int)
            assert inst[v, u] == iid, (i, mark)
            assert abs(depth[v, u] - x[2]) < 0.03
        assert set(np.unique(inst)) <= {0} | set(visible)  # wall/floor (1, 2) are not instances


def test_export_folder_gives_the_same_scene(raw, tmp_path):
    root, _ = raw
    prepare_scannet(root, tmp_path / "a", cfg(frame_source="sens"))
    prepare_scannet(root, tmp_path / "b", cfg(frame_source="export"))
    a, b = PreparedScene(tmp_path / "a", SCENE), PreparedScene(tmp_path / "b", SCENE)
    np.testing.assert_array_equal(a.point_gt(), b.point_gt())
    np.testing.assert_allclose(a.cam_from_world(), b.cam_from_world(), atol=1e-5)
    for i in range(len(a)):
        np.testing.assert_array_equal(a.instance(i), b.instance(i))
        np.testing.assert_allclose(a.depth(i), b.depth(i), atol=1e-3)


def test_variants_ascii_ply_folders_unfiltered_raycast_and_resize(tmp_path):
    gts = []
    for k, (inst, ascii_ply) in enumerate([("folder", True), ("unfiltered", False), ("none", False)]):
        raw = tmp_path / f"raw{k}"
        fx = write_scannet_scene(raw, frames="export", instances=inst, ascii_ply=ascii_ply)
        out = tmp_path / f"out{k}"
        prepare_scannet(raw, out, cfg(frame_skip=2, size=(32, 24)))
        p = PreparedScene(out, SCENE)
        assert [f.name for f in p.frames] == ["000000"]  # frame 2 (the -inf pose) skipped
        assert p.meta["stats"]["frames_skipped_nonfinite_pose"] == 1
        assert p.image_size == (24, 32) and p.color(0).shape == (24, 32, 3)
        np.testing.assert_allclose(p.frames[0].intrinsics[0], [24.5, 0, 15.5])  # K_depth scaled by 1/2
        assert set(np.unique(p.instance(0))) == {0, 3, 4, 6}
        gts.append(p.point_gt())
    assert p.meta["stats"]["instance_source"] == "raycast"
    np.testing.assert_array_equal(gts[0], gts[1])
    np.testing.assert_array_equal(gts[0], gts[2])


def test_splits_and_resume(raw, tmp_path):
    root, _ = raw
    s1 = prepare_scannet(root, tmp_path, cfg(frame_source="sens"))
    assert read_split(tmp_path, "train") == [SCENE]  # scene0000_00 is in the official train list
    stamp = (tmp_path / SCENE / "scene.json").stat().st_mtime_ns
    s2 = prepare_scannet(root, tmp_path, cfg(frame_source="sens"))
    assert s1["prepared"] == [SCENE] and s2["resumed"] == [SCENE] and s2["prepared"] == []
    assert (tmp_path / SCENE / "scene.json").stat().st_mtime_ns == stamp
    s3 = prepare_scannet(root, tmp_path, cfg(frame_source="sens"), overwrite=True)
    assert s3["prepared"] == [SCENE]
    with pytest.raises(DataError, match="prepared for benchmark 'scannet'"):
        prepare_scannet(root, tmp_path, cfg("scannet200"))
    # a scene outside the official lists goes to --split
    other = tmp_path / "raw2"
    write_scannet_scene(other, scene="scene0999_00", frames="sens")
    prepare_scannet(other, tmp_path, cfg(frame_source="sens"), split="extra")
    assert read_split(tmp_path, "extra") == ["scene0999_00"] and read_split(tmp_path, "train") == [SCENE]
    assert not list(tmp_path.glob(".scene*"))  # no half-written temporaries


def test_bad_input_errors(tmp_path):
    raw = tmp_path / "raw"
    fx = write_scannet_scene(raw, frames="sens", sens_version=3)
    with pytest.raises(DataError, match="version 3, expected 4"):
        prepare_scannet(raw, tmp_path / "o", cfg())
    s = prepare_scannet(raw, tmp_path / "o", cfg(), skip_bad=True)
    assert list(s["skipped_bad"]) == [SCENE] and not (tmp_path / "o" / SCENE).exists()
    (fx.scene_dir / f"{SCENE}_vh_clean_2.0.010000.segs.json").unlink()
    with pytest.raises(DataError, match="missing over-segmentation"):
        prepare_scannet(raw, tmp_path / "o", cfg())
    with pytest.raises(DataError, match="scene0001_00 not found"):
        prepare_scannet(raw, tmp_path / "o", cfg(), scenes=["scene0001_00"])
    shutil.move(raw / "scannetv2-labels.combined.tsv", tmp_path / "labels.tsv")
    with pytest.raises(DataError, match="pass --label-map"):
        prepare_scannet(raw, tmp_path / "o", cfg())


def test_empty_instance_set_and_unreadable_image(tmp_path):
    import json

    raw = tmp_path / "raw"
    fx = write_scannet_scene(raw, frames="export")
    agg = fx.scene_dir / f"{SCENE}.aggregation.json"
    data = json.loads(agg.read_text())
    agg.write_text(json.dumps({**data, "segGroups": data["segGroups"][:2]}))  # wall + floor only
    with pytest.raises(DataError, match="no object of an evaluated scannet class"):
        prepare_scannet(raw, tmp_path / "o", cfg())
    agg.write_text(json.dumps(data))
    (fx.scene_dir / "exported" / "color" / "0.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="unreadable colour"):
        prepare_scannet(raw, tmp_path / "o", cfg())


def test_tool_prints_one_line(raw, tmp_path):
    import os

    root, _ = raw
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ok = subprocess.run([sys.executable, str(REPO / "tools" / "prepare_scannet.py"), "--raw", str(root), "--out",
                         str(tmp_path), "--benchmark", "scannet200", "--frame-skip", "3", "--size", "64x48"],
                        capture_output=True, text=True, cwd=REPO, env=env)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().splitlines()[-1].startswith("prepared 1")
    assert PreparedScene(tmp_path, SCENE).benchmark == "scannet200"
    bad = subprocess.run([sys.executable, str(REPO / "tools" / "prepare_scannet.py"), "--raw", str(tmp_path / "nope"),
                          "--out", str(tmp_path), "--benchmark", "scannet"], capture_output=True, text=True, cwd=REPO, env=env)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1
