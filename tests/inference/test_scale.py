"""Scale: the factor from two clicks a known distance apart, and what a rescale changes (and does not)."""

from __future__ import annotations

import numpy as np
import pytest
from scene_fixtures import S, known_scene

from segvggt.inference.errors import InferenceError
from segvggt.inference.scale import apply_scale, factor_from_clicks, parse_scale_spec


@pytest.fixture()
def scene(tmp_path):
    return known_scene(tmp_path / "photos")[0]


def test_factor_from_two_clicks_known_answer(scene):
    # view 0 is the identity camera, fx 20, fy 22, cx 7.5, cy 5.25, depth 2 + 0.05 u + 0.02 v:
    # (2, 5) -> 2.2 * (-0.275, -0.01136, 1); (12, 5) -> 2.7 * (0.225, -0.01136, 1); 1.31155958 apart
    clicks = parse_scale_spec("0, 2, 5, 12, 5, 0.5")
    assert factor_from_clicks(scene, clicks) == pytest.approx(0.5 / 1.3115595804453, rel=1e-6)
    scaled, factor = apply_scale(scene, clicks=clicks)
    assert factor == pytest.approx(0.38122553291116235, rel=1e-6)
    assert scaled.units.startswith("metres")
    # after the rescale the same two clicks lie 0.5 apart
    from segvggt.inference.scale import lift_click

    assert np.linalg.norm(lift_click(scaled, 0, 2, 5) - lift_click(scaled, 0, 12, 5)) == pytest.approx(0.5, rel=1e-5)


def test_rescale_scales_lengths_and_keeps_projections(scene):
    F = 2.5
    scaled, factor = apply_scale(scene, factor=F)
    assert factor == F and scaled.units == "VGGT scene units x 2.5 (--scale-factor)"
    assert scene.units.startswith("VGGT scene units (not metric")  # the original is untouched
    np.testing.assert_allclose(scaled.points, scene.points * F, rtol=1e-6)
    np.testing.assert_allclose(scaled.cam_from_world[:, :, :3], scene.cam_from_world[:, :, :3])
    np.testing.assert_allclose(scaled.intrinsics, scene.intrinsics)
    for i in range(S):
        np.testing.assert_allclose(scaled.depth(i), scene.depth(i) * F, rtol=1e-6)
        centre = lambda r: -r.cam_from_world[i, :, :3].T @ r.cam_from_world[i, :, 3]  # noqa: E731
        np.testing.assert_allclose(centre(scaled), centre(scene) * F, rtol=1e-5)
    for a, b in zip(scaled.instances, scene.instances):
        np.testing.assert_allclose(a.points, b.points * F, rtol=1e-6)

    def project(r):
        E, K = r.cam_from_world[r.views], r.intrinsics[r.views]
        p = np.einsum("mij,mj->mi", E[:, :, :3], r.points) + E[:, :, 3]
        return np.einsum("mij,mj->mi", K, p)[:, :2] / p[:, 2:]

    np.testing.assert_allclose(project(scaled), project(scene), atol=1e-4)  # every point stays on its pixel


@pytest.mark.parametrize("spec, message", [
    ("0,1,2,3,4", "expects 'frame,x1,y1,x2,y2,METRES'"),
    ("0,1,2,3,4,-1", "positive number of metres"),
    ("0,1,2,1,2,1", "the same pixel"),
    ("a,1,2,3,4,1", "frame an integer"),
])  # fmt: skip
def test_bad_scale_spec(spec, message):
    with pytest.raises(InferenceError, match=message):
        parse_scale_spec(spec)


def test_bad_clicks_and_factors(scene):
    with pytest.raises(InferenceError, match="frame 7 does not exist"):
        apply_scale(scene, clicks=parse_scale_spec("7,1,1,2,2,1"))
    with pytest.raises(InferenceError, match=r"\(40.0, 1.0\) is outside image 0"):
        apply_scale(scene, clicks=parse_scale_spec("0,40,1,2,2,1"))
    with pytest.raises(InferenceError, match="positive number"):
        apply_scale(scene, factor=0.0)
    with pytest.raises(InferenceError, match="not both"):
        apply_scale(scene, factor=2.0, clicks=parse_scale_spec("0,1,1,2,2,1"))
    scene.maps.depth[0, 1, 1] = 0  # a pixel preprocessing cropped away has no depth
    with pytest.raises(InferenceError, match="has no depth"):
        apply_scale(scene, clicks=parse_scale_spec("0,1,1,5,5,1"))
