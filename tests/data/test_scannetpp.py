import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from scannet_fixtures import K_COLOR, PP_EXCLUDED, PP_SCENE, write_scannetpp_scene  # noqa: E402

from segvggt.data.colmap import quaternion_to_rotation, read_colmap_text, read_nerfstudio  # noqa: E402
from segvggt.data.errors import DataError  # noqa: E402
from segvggt.data.prepared import PreparedScene  # noqa: E402
from segvggt.data.scannetpp import (  # noqa: E402
    EXCLUDED_FILE, ScanNetppPrepConfig, prepare_scannetpp, scannetpp_point_gt,
)

# top-100 indices: table 3, cabinet 6, chair 9, office chair 11
EXPECT = {"wall_centre": 0, "floor_room_a": 0, "chair_top": 9002, "chair_front": 11005, "table_front": 3003,
          "pillow_front": 6004, "stool_front": 0}  # fmt: skip


def test_toolkit_gt_rule():
    seg = np.array([0, 0, 1, 1, 1, 2, 3])
    groups = [{"label": "table", "segments": [3]},            # index 0: dropped by the toolkit quirk
              {"label": "chair", "segments": [0, 1]},         # 5 vertices
              {"label": "office chair", "segments": [1]},     # 3 vertices: smaller, wins on segment 1
              {"label": "wall", "segments": [2]},             # not an instance class
              {"label": "unknown thing", "segments": [0]}]    # not in top-100: ignored  # fmt: skip
    np.testing.assert_array_equal(scannetpp_point_gt(seg, groups), [9001, 9001, 11002, 11002, 11002, 0, 0])


def test_pose_readers_agree(tmp_path):
    _, _, c2ws = write_scannetpp_scene(tmp_path / "a", poses="colmap")
    _, _, _ = write_scannetpp_scene(tmp_path / "b", poses="nerfstudio")
    col = read_colmap_text(tmp_path / "a" / "data" / PP_SCENE / "iphone" / "colmap")
    ns = read_nerfstudio(tmp_path / "b" / "data" / PP_SCENE / "iphone" / "nerfstudio" / "transforms.json")
    assert [f.name for f in col] == [f.name for f in ns] == ["frame_000000", "frame_000001", "frame_000002"]
    for a, b, c2w in zip(col, ns, c2ws):
        np.testing.assert_allclose(a.cam_from_world, np.linalg.inv(c2w)[:3], atol=1e-6)
        np.testing.assert_allclose(b.cam_from_world, np.linalg.inv(c2w)[:3], atol=1e-6)
        np.testing.assert_allclose(a.intrinsics, K_COLOR)
    np.testing.assert_allclose(quaternion_to_rotation(0, 0, 0, 1), np.diag([-1.0, -1, 1]), atol=1e-12)


@pytest.mark.parametrize("poses,source", [("colmap", "iphone"), ("nerfstudio", "iphone"), ("nerfstudio", "dslr")])
def test_prepare_scene_raycast_masks_agree_with_vertex_gt(tmp_path, poses, source):
    raw = tmp_path / "raw"
    _, marks, c2ws = write_scannetpp_scene(raw, poses=poses, source=source)
    s = prepare_scannetpp(raw, tmp_path / "out", ScanNetppPrepConfig(source=source, frame_skip=1, width=64))
    assert s["prepared"] == [PP_SCENE]
    p = PreparedScene(tmp_path / "out", PP_SCENE)
    assert p.benchmark == "scannetpp" and len(p) == 3 and p.image_size == (48, 64)
    gt = p.point_gt()
    assert {k: int(gt[marks[k]]) for k in EXPECT} == EXPECT
    assert p.instance_labels == {2: 9, 3: 3, 4: 6, 5: 11}
    np.testing.assert_array_equal(np.load(tmp_path / "out" / PP_SCENE / EXCLUDED_FILE), PP_EXCLUDED)
    for i, f in enumerate(p.frames):
        np.testing.assert_allclose(f.cam_from_world, np.linalg.inv(c2ws[i])[:3], atol=1e-5)
        inst, depth = p.instance(i), p.depth(i)
        for mark in ("chair_front", "table_front", "pillow_front"):
            x = f.cam_from_world @ np.append(p.points()[marks[mark]], 1.0)
            u, v = np.rint((f.intrinsics @ x)[:2] / x[2]).astype(int)
            assert inst[v, u] == gt[marks[mark]] % 1000
            assert abs(depth[v, u] - x[2]) < 0.03
        assert set(np.unique(inst)) <= {0, 2, 3, 4, 5}


def test_missing_files(tmp_path):
    raw = tmp_path / "raw"
    d, _, _ = write_scannetpp_scene(raw)
    (d / "scans" / "segments_anno.json").unlink()
    with pytest.raises(DataError, match="segments_anno.json"):
        prepare_scannetpp(raw, tmp_path / "out", ScanNetppPrepConfig(frame_skip=1, width=64))
    with pytest.raises(DataError, match="not found"):
        prepare_scannetpp(raw, tmp_path / "out", ScanNetppPrepConfig(), scenes=["ffffffffff"])
