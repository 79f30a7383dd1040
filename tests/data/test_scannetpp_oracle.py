"""A furnished room in the ScanNet++ release layout (one segment per vertex, as the current release;
toolkit issue #48) -> tools/prepare_scannetpp.py (iPhone and DSLR) -> tools/eval.py --oracle.

Per-vertex GT must equal the generator's construction (benchmark mapping included), poses must equal
COLMAP's, and lifting the ground-truth 2D masks must still reach AP50 >= 0.9 without any superpoint help.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import tools_on_path  # noqa: E402
from scannetpp_fixtures import colmap_world_to_camera, write_metadata, write_scannetpp_room  # noqa: E402

from segvggt.data.prepared import PreparedScene, read_split  # noqa: E402

SCENE = "5e4d3c2b1a"


@pytest.fixture(scope="module")
def raw_room(tmp_path_factory):
    raw = tmp_path_factory.mktemp("scannetpp_raw")
    room = write_scannetpp_room(raw, SCENE, seed=1, frames=12, color_hw=(96, 128), segments="vertex")
    write_metadata(raw, val_scenes=(SCENE,))
    return raw, room


@pytest.mark.parametrize("source", ["iphone", "dslr"])
def test_room_prepares_to_official_gt_and_colmap_poses(raw_room, tmp_path, capsys, source):
    tools_on_path()
    import prepare_scannetpp

    raw, room = raw_room
    out = tmp_path / "prepared"
    code = prepare_scannetpp.main(["--raw", str(raw), "--out", str(out), "--source", source, "--frame-skip", "2",
                                   "--width", "128"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "segments.json: one segment per vertex in 1 of 1 scene (ScanNet++ toolkit issue #48)" in printed
    assert read_split(out, "val") == [SCENE]
    scene = PreparedScene(out, SCENE)
    np.testing.assert_array_equal(scene.point_gt(), room.point_gt)
    assert len(np.unique(room.point_gt[room.point_gt > 0])) >= 4  # a non-trivial room
    np.testing.assert_array_equal(scene.superpoints(), np.arange(len(room.vertices)))
    colmap = colmap_world_to_camera((room.scene_dir / source / "colmap" / "images.txt").read_text())
    colmap = {Path(n).stem: w2c[:3] for n, w2c in colmap.items()}
    assert len(scene.frames) == 6
    for f in scene.frames:
        np.testing.assert_allclose(f.cam_from_world, colmap[f.name], atol=1e-6)
        np.testing.assert_allclose(f.cam_from_world, np.linalg.inv(room.camera_to_world[int(f.name[-5:])])[:3], atol=1e-6)
    if source == "iphone":
        tools_on_path()
        import eval as eval_tool

        result = tmp_path / "oracle.json"
        code = eval_tool.main(["--config", "scannetpp", "--oracle", "--data-root", str(out), "--device", "cpu",
                               "--json", str(result)])  # fmt: skip
        assert code == 0
        r = json.loads(result.read_text())
        assert r["ap50"] >= 0.9 and r["ap25"] >= 0.9
