"""Hand-made cases for point visibility, pixel lookup, the view vote, the superpoint vote and scores."""

import math

import pytest
import torch

from segvggt.evaluation.lifting import (
    image_to_mask_pixel,
    instance_scores,
    lift_masks,
    point_visibility,
    superpoint_vote,
)


def _identity_camera(fx=10.0, cx=1.5, cy=1.5):
    cam = torch.tensor([[[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]]])
    K = torch.tensor([[[fx, 0, cx], [0, fx, cy], [0, 0, 1.0]]])
    return cam, K


def test_depth_test_hides_points_behind_a_surface_and_outside_the_image():
    cam, K = _identity_camera()
    depth = torch.full((1, 4, 4), 2.0)  # a wall at z = 2
    points = torch.tensor(
        [
            [0.0, 0.0, 2.0],  # on the wall -> visible
            [0.0, 0.0, 3.0],  # 1 m behind the wall -> hidden
            [0.0, 0.0, 2.15],  # within the 0.2 m tolerance -> visible
            [10.0, 0.0, 2.0],  # far outside the image
            [0.0, 0.0, -2.0],  # behind the camera
        ]
    )
    visible, pixel = point_visibility(points, cam, K, depth)
    assert visible[0].tolist() == [True, False, True, False, False]
    # u = v = 10 * 0 / 2 + 1.5 = 1.5 -> rounds half up to pixel (2, 2) -> flat 2 * 4 + 2
    assert pixel[0].tolist() == [10, -1, 10, -1, -1]


def test_invalid_depth_hides_points_and_relative_tolerance_loosens_the_test():
    cam, K = _identity_camera()
    depth = torch.full((1, 4, 4), 10.5)
    depth[0, 0, 0] = 0.0  # invalid sensor pixel
    points = torch.tensor([[0.0, 0.0, 10.0], [-1.5, -1.5, 10.0]])  # the 2nd lands on pixel (0, 0)
    assert point_visibility(points, cam, K, depth)[0][0].tolist() == [False, False]
    assert point_visibility(points, cam, K, depth, relative_tolerance=0.1)[0][0].tolist() == [True, False]


def test_pixel_lookup_of_a_rotated_translated_camera():
    # cam_from_world: 90 degrees about z, then t = (0.5, 0, 1)
    cam = torch.tensor([[[0.0, -1, 0, 0.5], [1, 0, 0, 0], [0, 0, 1, 1]]])
    K = torch.tensor([[[20.0, 0, 3], [0, 20, 2], [0, 0, 1]]])
    depth = torch.full((1, 5, 8), 2.0)
    # world (0.2, 0.1, 1) -> camera (0.4, 0.2, 2) -> u = 20 * 0.2 + 3 = 7, v = 20 * 0.1 + 2 = 4
    visible, pixel = point_visibility(torch.tensor([[0.2, 0.1, 1.0]]), cam, K, depth)
    assert visible.tolist() == [[True]]
    assert pixel.tolist() == [[4 * 8 + 7]]


def test_pixel_rounding_at_the_image_border():
    cam, K = _identity_camera(fx=1.0, cx=0.0, cy=0.0)
    depth = torch.full((1, 4, 4), 1.0)
    # u = x at z = 1: -0.5 -> pixel 0 (inside); 3.49 -> 3; 3.5 -> 4 (outside); -0.51 -> -1 (outside)
    points = torch.tensor([[-0.5, 0.0, 1.0], [3.49, 0.0, 1.0], [3.5, 0.0, 1.0], [-0.51, 0.0, 1.0]])
    visible, pixel = point_visibility(points, cam, K, depth)
    assert visible[0].tolist() == [True, True, False, False]
    assert pixel[0, :2].tolist() == [0, 3]


def test_frame_chunking_does_not_change_the_result():
    g = torch.Generator().manual_seed(0)
    S = 5
    cam = torch.cat([torch.eye(3).expand(S, 3, 3), torch.randn(S, 3, 1, generator=g) * 0.1], dim=-1)
    K = torch.tensor([[8.0, 0, 3.5], [0, 8, 2.5], [0, 0, 1]]).expand(S, 3, 3)
    depth = 2.0 + torch.rand(S, 6, 8, generator=g)
    points = torch.randn(200, 3, generator=g) * 0.5 + torch.tensor([0, 0, 2.5])
    a = point_visibility(points, cam, K, depth, frames_chunk=1)
    b = point_visibility(points, cam, K, depth, frames_chunk=8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].any()


def test_image_to_mask_pixel_reads_the_mask_pixel_containing_the_centre():
    H, W, h, w = 4, 6, 2, 3
    rows, cols = torch.tensor([0, 1, 2, 3, 3]), torch.tensor([0, 1, 2, 5, 4])
    got = image_to_mask_pixel(rows * W + cols, (H, W), (h, w))
    assert got.tolist() == [0 * 3 + 0, 0 * 3 + 0, 1 * 3 + 1, 1 * 3 + 2, 1 * 3 + 2]
    assert torch.equal(image_to_mask_pixel(rows * W + cols, (H, W), (H, W)), rows * W + cols)


def test_superpoint_vote_on_a_hand_made_case():
    superpoints = torch.tensor([0, 0, 0, 1, 1, 7, 7, 7, 7])
    masks = torch.tensor(
        [
            [1, 1, 0, 1, 0, 1, 1, 1, 0],  # sp0 2/3 in, sp1 1/2 (not more than half), sp7 3/4
            [0, 0, 1, 1, 1, 0, 0, 0, 0],  # sp0 1/3, sp1 2/2, sp7 0
        ],
        dtype=torch.bool,
    )
    got = superpoint_vote(masks, superpoints, 0.5)
    assert got.int().tolist() == [[1, 1, 1, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0, 0, 0]]
    assert superpoint_vote(masks, superpoints, 0.7).int().tolist()[0] == [0, 0, 0, 0, 0, 1, 1, 1, 1]


def test_view_vote_and_point_probabilities():
    # 2 views of 1 x 2 pixels, 4 points; pixel_index given directly
    probs = torch.tensor([[[[0.9, 0.2]], [[0.8, 0.6]]]])  # [I=1, S=2, 1, 2]
    visible = torch.tensor([[True, True, True, False], [True, False, True, False]])
    pixel = torch.tensor([[0, 0, 1, -1], [0, -1, 1, -1]])
    masks, point_probs = lift_masks(probs, visible, pixel, None, image_size=(1, 2))
    # p0: on in 2/2 views; p1: on in its 1 view; p2: on in 1/2 (not > 0.5); p3: never seen
    assert masks.tolist() == [[True, True, False, False]]
    assert torch.allclose(point_probs, torch.tensor([[0.85, 0.9, 0.4, 0.0]]))
    loose, _ = lift_masks(probs, visible, pixel, None, image_size=(1, 2), vote_threshold=0.4)
    assert loose.tolist() == [[True, True, True, False]]
    # the superpoint vote then pulls the never-seen point 3 in with 0 and 1 (2 of 3 points in)
    with_sp, _ = lift_masks(probs, visible, pixel, torch.tensor([5, 5, 9, 5]), image_size=(1, 2))
    assert with_sp.tolist() == [[True, True, False, True]]


def test_lift_masks_rejects_mismatched_views():
    with pytest.raises(ValueError, match="views"):
        visible, pixel = torch.zeros(2, 4, dtype=torch.bool), torch.zeros(2, 4, dtype=torch.long)
        lift_masks(torch.zeros(1, 3, 2, 2), visible, pixel, None, image_size=(2, 2))


def test_instance_scores_formula():
    pred_logits = torch.log(torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]]))
    # [Q=2, S=1, 2, 2]
    pred_masks = torch.tensor([[[[2.0, -1.0], [0.0, 1.0]]], [[[-3.0, -1.0], [-2.0, 4.0]]]])
    labels, scores = instance_scores(pred_logits, pred_masks)
    sig = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731
    assert labels.tolist() == [0, 1]
    # logit 0 is not "on" (sigmoid > 0.5 strictly); "no object" never wins a label
    assert scores[0].item() == pytest.approx(0.6 * (sig(2.0) + sig(1.0)) / 2, rel=1e-5)
    assert scores[1].item() == pytest.approx(0.2 * sig(4.0), rel=1e-5)


def test_logits_and_probabilities_lift_the_same():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 2, 2, 3, generator=g) * 3
    visible = torch.rand(2, 30, generator=g) > 0.3
    pixel = torch.where(visible, torch.randint(0, 24, (2, 30), generator=g), torch.full((2, 30), -1))
    a = lift_masks(logits.sigmoid(), visible, pixel, None, image_size=(4, 6))
    b = lift_masks(logits, visible, pixel, None, image_size=(4, 6), are_logits=True)
    assert torch.equal(a[0], b[0]) and torch.allclose(a[1], b[1])
    assert a[0].any() and not a[0].all()


def test_bad_shapes_give_one_clear_error():
    cam, K = _identity_camera()
    with pytest.raises(ValueError, match=r"points must be \[M, 3\]"):
        point_visibility(torch.zeros(4, 2), cam, K, torch.ones(1, 4, 4))
    with pytest.raises(ValueError, match="2 depth maps need cam_from_world"):
        point_visibility(torch.zeros(4, 3), cam, K, torch.ones(2, 4, 4))
