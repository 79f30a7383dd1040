"""Raw ScanNet layout (written by an independent generator) -> tools/prepare_scannet.py -> tools/eval.py --oracle.

The oracle lifts the ground-truth 2D instance images onto the mesh vertices; on a complete scan
it must reach AP50 >= 0.9, and the prepared per-vertex GT must be exactly the generator's
`label * 1000 + objectId + 1`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import tools_on_path  # noqa: E402
from scannet_from_synthetic import RAW_CATEGORIES, write_scannet_layout  # noqa: E402

from segvggt.data.classes import benchmark_classes  # noqa: E402
from segvggt.data.prepared import PreparedScene, read_split  # noqa: E402

SCENE = "scene0011_00"  # in the official val list, so preparation puts it into splits/val.txt


@pytest.fixture(scope="module")
def raw_scan(tmp_path_factory):
    raw = tmp_path_factory.mktemp("scannet_raw")
    layout = write_scannet_layout(raw, SCENE, seed=3, frames=20, color_hw=(120, 160), depth_hw=(60, 80),
                                  spacing=0.08, min_objects=5, max_objects=7)  # fmt: skip
    return raw, layout


@pytest.mark.parametrize("benchmark,config", [("scannet", "scannetv2"), ("scannet200", "scannet200")])
def test_prepared_scan_reaches_oracle_ap50(raw_scan, tmp_path, benchmark, config):
    tools_on_path()
    import eval as eval_tool
    import prepare_scannet

    raw, layout = raw_scan
    gt = layout.point_gt(benchmark)
    # the scene must hold evaluated objects of >= 100 vertices, or AP would be NaN
    instance_classes = set(benchmark_classes(benchmark).instance_ids)
    ids, counts = np.unique(gt[np.isin(gt // 1000, list(instance_classes))], return_counts=True)
    assert (counts >= 100).sum() >= 3

    out = tmp_path / "prepared"
    code = prepare_scannet.main(["--raw", str(raw), "--out", str(out), "--benchmark", benchmark,
                                 "--frame-skip", "2", "--size", "160x120"])  # fmt: skip
    assert code == 0
    assert read_split(out, "val") == [SCENE]
    scene = PreparedScene(out, SCENE)
    assert len(scene) == 10
    np.testing.assert_array_equal(scene.point_gt(), gt)
    np.testing.assert_array_equal(scene.points(), layout.vertices)
    assert scene.meta["stats"]["label_image_mismatch_pixels"] == 0
    expected_labels = {o + 1: RAW_CATEGORIES[c][1 if benchmark == "scannet" else 0] for o, c in layout.raw_category.items()}
    assert scene.instance_labels == {i: lab for i, lab in expected_labels.items() if lab in instance_classes}

    result_file = tmp_path / "oracle.json"
    code = eval_tool.main(["--config", config, "--oracle", "--data-root", str(out), "--split", "val",
                           "--json", str(result_file)])  # fmt: skip
    assert code == 0
    result = json.loads(result_file.read_text())
    assert result["frames"][SCENE] == [f"{i:06d}" for i in range(0, 20, 2)]
    assert result["ap50"] >= 0.9 and result["ap25"] >= 0.9
