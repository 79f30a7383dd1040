"""MastSAM multi-view consistency on a plane seen by two cameras (every correspondence by hand)."""

import math

import pytest
import torch

from segvggt.evaluation.consistency import multiview_consistency, one_hot_vectors


def _stereo_plane():
    """Plane z = 2 seen by two cameras 0.4 m apart along x; one pixel = 0.2 m on the plane, so view 0
    column u and view 1 column u - 2 see the same point (rows equal)."""
    K = torch.tensor([[10.0, 0, 3.5], [0, 10.0, 1.5], [0, 0, 1]]).expand(2, 3, 3)
    identity = [[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    cams = torch.tensor([identity, [[1.0, 0, 0, -0.4], [0, 1, 0, 0], [0, 0, 1, 0]]])
    depth = torch.full((2, 4, 8), 2.0)
    return depth, cams, K


def test_one_hot_vectors():
    ids = torch.tensor([[[0, 4], [9, 4]]])
    v = one_hot_vectors(ids)
    assert v.shape == (1, 2, 2, 2)
    assert v[0, 0, 0].tolist() == [0, 0] and v[0, 0, 1].tolist() == [1, 0] and v[0, 1, 0].tolist() == [0, 1]


def test_same_instance_in_both_views_is_one():
    depth, cams, K = _stereo_plane()
    ids = torch.zeros(2, 4, 8, dtype=torch.long)
    ids[0, :, 4:6] = 1
    ids[1, :, 2:4] = 1
    assert multiview_consistency(one_hot_vectors(ids), depth, cams, K, epsilon=0.05) == 1.0


def test_background_is_excluded_and_a_missed_view_scores_zero():
    depth, cams, K = _stereo_plane()
    ids = torch.zeros(2, 4, 8, dtype=torch.long)
    ids[0, :, 4:6] = 1  # view 1 calls the stripe background
    # sources: the 8 stripe pixels of view 0; each sees one background pixel in view 1 -> cos 0.
    # (the old binary agreement counted the 40 agreeing background pairs and read 32 / 48)
    assert multiview_consistency(one_hot_vectors(ids), depth, cams, K, epsilon=0.05) == 0.0
    assert math.isnan(multiview_consistency(one_hot_vectors(torch.zeros_like(ids)), depth, cams, K))


def test_half_the_stripe_under_another_id_is_one_half():
    depth, cams, K = _stereo_plane()
    ids = torch.zeros(2, 4, 8, dtype=torch.long)
    ids[0, :, 4:6] = 1
    ids[1, :, 2] = 1  # sees view 0 column 4
    ids[1, :, 3] = 2  # sees view 0 column 5 under another instance: one-hot vectors are orthogonal
    # 16 sources (8 per view), half agree (cos 1), half disagree (cos 0)
    assert multiview_consistency(one_hot_vectors(ids), depth, cams, K, epsilon=0.05) == pytest.approx(0.5)
    # masks at half resolution read the mask pixel containing each depth pixel
    half = torch.zeros(2, 2, 4, dtype=torch.long)
    half[0, :, 2] = 1  # depth columns 4, 5
    half[1, :, 1] = 1  # depth columns 2, 3
    assert multiview_consistency(one_hot_vectors(half), depth, cams, K, epsilon=0.05) == 1.0


def test_prompt_vectors_cosine_and_a_wider_radius():
    depth, cams, K = _stereo_plane()
    masks = torch.zeros(2, 4, 8, 2)  # two prompts
    masks[0, :, 4:6, 0] = 1
    masks[0, :, 4:6, 1] = 1  # view 0: both prompts on the stripe -> (1, 1)
    masks[1, :, 2:4, 0] = 1  # view 1: only prompt 0 -> (1, 0)
    # every source pair has cos((1,1), (1,0)) = 1 / sqrt(2)
    assert multiview_consistency(masks, depth, cams, K, epsilon=0.05) == pytest.approx(1 / math.sqrt(2))
    # epsilon 0.25 m also reaches the 4-neighbours (0.2 m away) in the other view. One prompt, stripe
    # of 1 column: view 0 column 4 <-> view 1 column 2. A source pixel in an interior row has 5
    # neighbours in the other view (itself and 4 around), of which the 2 in the same column are on:
    # 3 on of 5 -> 3/5; in the top / bottom row 4 neighbours, 2 on -> 2/4.
    one = torch.zeros(2, 4, 8, 1)
    one[0, :, 4, 0] = 1
    one[1, :, 2, 0] = 1
    expected = (2 * (3 / 5) + 2 * (2 / 4)) / 4  # per view; both views are symmetric
    assert multiview_consistency(one, depth, cams, K, epsilon=0.25) == pytest.approx(expected)


def test_max_points_subsamples_and_bad_shapes_fail():
    depth, cams, K = _stereo_plane()
    ids = torch.zeros(2, 4, 8, dtype=torch.long)
    ids[0, :, 4:6] = 1
    ids[1, :, 2:4] = 1
    # stride raised to 2 (2 x 2 x 4 = 16 points): columns 0, 2, 4, 6 of each view; 0.4 m shift = 2
    # columns, so sampled pixels still meet their partners exactly
    assert multiview_consistency(one_hot_vectors(ids), depth, cams, K, max_points=16) == 1.0
    with pytest.raises(ValueError, match="mask vectors"):
        multiview_consistency(torch.zeros(3, 4, 8, 1), depth, cams, K)
    with pytest.raises(ValueError, match="integer ids"):
        multiview_consistency(torch.zeros(2, 4, 8), depth, cams, K)  # float [S, h, w]: ambiguous


def test_ids_equal_their_one_hot_vectors():
    depth, cams, K = _stereo_plane()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 4, (2, 4, 8), generator=g)
    for eps in (0.05, 0.25, 0.5):
        a = multiview_consistency(ids, depth, cams, K, epsilon=eps)
        b = multiview_consistency(one_hot_vectors(ids), depth, cams, K, epsilon=eps)
        assert a == pytest.approx(b)


def test_voxel_neighbour_search_equals_brute_force():
    from segvggt.evaluation.consistency import _neighbour_pairs

    g = torch.Generator().manual_seed(1)
    points = torch.rand(400, 3, generator=g) * 2 - 1
    sources = points[:50] + 0.01
    s, q = _neighbour_pairs(sources, points, 0.15)
    found = set(zip(s.tolist(), q.tolist()))
    close = (torch.cdist(sources, points) <= 0.15).nonzero().tolist()
    assert found == {tuple(p) for p in close} and len(found) > 50
