"""Frame selection, image sizes and the field-of-view overlap."""

from __future__ import annotations

import numpy as np
import pytest

from segvggt.data.sampling import (
    frustum_overlap, image_hw, sample_frame_window, select_fov_frames, strided_frames,
)  # fmt: skip

K = np.array([[50.0, 0, 49.5], [0, 50.0, 39.5], [0, 0, 1]])  # 100 x 80 image
IDENTITY = np.concatenate([np.eye(3), np.zeros((3, 1))], axis=1)


@pytest.mark.parametrize("total,S,gap", [(100, 8, 4), (30, 2, 3), (9, 8, 4), (50, 1, 4), (24, 24, 2)])
def test_frame_window_spacing(total, S, gap):
    for seed in range(50):
        idx = sample_frame_window(total, S, np.random.default_rng(seed), max_gap=gap)
        assert idx.shape == (S,) and idx.min() >= 0 and idx.max() < total
        assert np.all(np.diff(idx) >= 1)  # distinct, in capture order
        assert idx[-1] - idx[0] + 1 <= S * gap  # the window is at most S * max_gap frames long
    same = [sample_frame_window(total, S, np.random.default_rng(7), max_gap=gap) for _ in range(2)]
    np.testing.assert_array_equal(*same)


def test_frame_window_spreads_frames_evenly():
    spans = []
    for seed in range(200):
        idx = sample_frame_window(1000, 5, np.random.default_rng(seed), max_gap=10, jitter=0.0)
        gaps = np.diff(idx)
        assert gaps.max() - gaps.min() <= 1  # without jitter: evenly spaced up to rounding
        spans.append(idx[-1] - idx[0] + 1)
    assert min(spans) < 15 and max(spans) > 40  # window lengths cover [S, S * max_gap]


def test_short_scene_repeats_frames():
    idx = sample_frame_window(3, 5, np.random.default_rng(0))
    assert set(idx.tolist()) == {0, 1, 2} and len(idx) == 5 and np.all(np.diff(idx) >= 0)


def test_strided_frames():
    np.testing.assert_array_equal(strided_frames(100, 4, 5), [0, 5, 10, 15])
    np.testing.assert_array_equal(strided_frames(10, 4, 5), [0, 3, 6, 9])  # too short: spread evenly
    np.testing.assert_array_equal(strided_frames(2, 3, 1), [0, 0, 1])


def test_image_hw_multiples_of_14():
    assert image_hw(518, 1.0) == (518, 518)
    assert image_hw(518, 0.75) == (392, 518)
    assert image_hw(518, 0.33) == (168, 518)
    assert image_hw(112, 0.75) == (84, 112)
    assert image_hw(112, 0.01) == (14, 112)


def test_frustum_overlap_known_geometry():
    inside = np.array([[0.0, 0.0, 2.0], [0.9, 0.7, 1.0], [-0.9, -0.7, 1.0]])  # u in [4.5, 94.5], v in [4.5, 74.5]
    outside = np.array([[1.2, 0.0, 1.0], [0.0, -0.9, 1.0], [0.0, 0.0, -2.0], [10.0, 0.0, 5.0]])
    assert frustum_overlap(inside, IDENTITY, K, (80, 100)) == 1.0
    assert frustum_overlap(outside, IDENTITY, K, (80, 100)) == 0.0
    assert frustum_overlap(np.concatenate([inside, outside[:1]]), IDENTITY, K, (80, 100)) == 0.75
    assert frustum_overlap(np.zeros((0, 3)), IDENTITY, K, (80, 100)) == 0.0
    # a camera moved 10 m along +x sees the last outside point straight ahead
    moved = IDENTITY.copy()
    moved[0, 3] = -10.0
    assert frustum_overlap(outside[3:], moved, K, (80, 100)) == 1.0


def test_select_fov_frames_keeps_overlapping_frames():
    candidates = np.arange(10)
    overlaps = np.array([0.0, 0.9, 0.1, 0.5, 1.0, 0.3, 0.2, 0.6, 0.0, 0.26])
    rng = np.random.default_rng(0)
    idx = select_fov_frames(4, overlaps, candidates, 4, 0.25, rng)
    assert idx[0] == 4 and set(idx[1:].tolist()) <= {1, 3, 5, 7, 9} and len(set(idx.tolist())) == 4
    few = select_fov_frames(4, overlaps, candidates, 8, 0.55, rng)  # 3 pass: fill with the next best
    assert few[0] == 4 and set(few[1:].tolist()) == {1, 7, 3, 5, 9, 6, 2}
