"""preview.png pieces with known answers: the floor-plan axes, outlines, label anchors, and the whole picture."""

from __future__ import annotations

import dataclasses

import numpy as np
from scene_fixtures import S, known_scene, rotation_y

from segvggt.inference.preview import floor_axes, label_anchor, make_tile, outline, overlay_instances, write_preview
from segvggt.inference.writers import confident_points, instance_palette


def rotation_x(degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def cams(*rotations) -> np.ndarray:
    return np.stack([np.concatenate([R, np.zeros((3, 1))], 1) for R in rotations])


def test_floor_axes_of_level_cameras_are_the_first_cameras_x_and_z():
    right, forward, up = floor_axes(cams(np.eye(3), rotation_y(30), rotation_y(-50)))
    np.testing.assert_allclose(right, [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(forward, [0, 0, 1], atol=1e-12)  # up x right: a floor plan seen from above
    np.testing.assert_allclose(up, [0, -1, 0], atol=1e-12)  # OpenCV y points down


def test_floor_axes_ignore_one_tilted_first_camera():
    # camera 0 looks 40 degrees down, three others are level: up stays within 10 degrees of the vertical
    right, forward, up = floor_axes(cams(rotation_x(-40), np.eye(3), rotation_y(20), rotation_y(-20)))
    assert np.degrees(np.arccos(up @ [0, -1, 0])) < 10.5
    np.testing.assert_allclose([right @ up, forward @ up, right @ forward], 0, atol=1e-12)
    np.testing.assert_allclose(np.cross(right, forward), up, atol=1e-12)  # right-handed: not mirrored


def test_outline_and_label_anchor():
    ids = np.zeros((6, 6), np.int32)
    ids[1:5, 1:5] = 2
    edge = outline(ids)
    assert edge.sum() == 12 and not edge[2:4, 2:4].any() and not edge[0].any()  # the ring of the 4x4 square
    assert label_anchor(ids == 2) in {(2.0, 2.0), (3.0, 2.0), (2.0, 3.0), (3.0, 3.0)}
    ring = np.zeros((7, 7), bool)
    ring[[0, -1]] = ring[:, [0, -1]] = True  # the centroid is outside the mask: the anchor must still be on it
    x, y = label_anchor(ring)
    assert ring[int(y), int(x)]
    photo = np.full((6, 6, 3), 100, np.uint8)
    shown = overlay_instances(photo, ids, instance_palette(2))
    assert (shown[edge] == 0).all() and (shown[ids == 0] == 100).all()
    np.testing.assert_array_equal(shown[2, 2], (0.35 * 100 + 0.65 * instance_palette(2)[2]).astype(np.uint8))


def test_write_preview_with_and_without_instances(tmp_path):
    from PIL import Image

    result, _ = known_scene(tmp_path / "photos")
    tiles = [make_tile(result.names[i], result.records[i].path, result.depth(i), result.instance_map(i)) for i in range(S)]
    keep = confident_points(result, 25.0)
    write_preview(tmp_path / "preview.png", tiles, result, keep)
    geometry_only = dataclasses.replace(result, instances=[], has_segmentation=False,
                                        instance_ids=np.zeros_like(result.instance_ids))
    write_preview(tmp_path / "geometry.png", tiles, geometry_only, keep)
    for name in ("preview.png", "geometry.png"):
        with Image.open(tmp_path / name) as img:
            assert img.size[0] == 1800 and img.size[1] > 800
