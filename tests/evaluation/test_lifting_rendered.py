"""Lifting on a tiny analytically rendered scene (boxes on a floor, 4 views around them)."""

import numpy as np
import pytest
import torch

from segvggt.data.classes import benchmark_classes
from segvggt.evaluation.alignment import Sim3, transform_cameras
from segvggt.evaluation.lifting import (
    LiftConfig,
    lift_ground_truth_masks,
    lift_masks,
    lift_predictions,
    lift_ranked,
    point_visibility,
    select_geometry,
)

H, W = 48, 64
FLOOR_ID, BOX_A, BOX_B = 1, 2, 3
LABELS = {FLOOR_ID: 2, BOX_A: 3, BOX_B: 4}  # synthetic: floor, table, chair
BOXES = {BOX_A: ((-1.0, -0.3, 0.0), (-0.4, 0.3, 0.5)), BOX_B: ((0.5, -0.25, 0.0), (1.0, 0.25, 0.7))}


def _look_at(eye, target):
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    f = target - eye
    f /= np.linalg.norm(f)
    x = np.cross(f, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(f, x)  # OpenCV: y points down
    R = np.stack([x, y, f])
    return np.concatenate([R, (-R @ eye)[:, None]], axis=1)


def _cameras():
    angles = np.deg2rad([-70.0, -20.0, 30.0, 80.0])
    cams = [_look_at((3.0 * np.sin(a), -3.0 * np.cos(a), 1.6), (0.0, 0.0, 0.3)) for a in angles]
    K = np.array([[50.0, 0, (W - 1) / 2], [0, 50.0, (H - 1) / 2], [0, 0, 1]])
    K = torch.tensor(K, dtype=torch.float32).expand(4, 3, 3)
    return torch.tensor(np.stack(cams), dtype=torch.float32), K


def _render(cams, K, floor=True):
    """Ray cast: depth [S, H, W] (z in the camera) and instance ids [S, H, W]."""
    S = cams.shape[0]
    rows, cols = torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64)
    v, u = torch.meshgrid(rows, cols, indexing="ij")
    depth = torch.zeros(S, H, W, dtype=torch.float64)
    ids = torch.zeros(S, H, W, dtype=torch.long)
    for s in range(S):
        R, t = cams[s, :, :3].double(), cams[s, :, 3].double()
        k = K[s].double()
        # camera-frame directions with z = 1
        d_cam = torch.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], torch.ones_like(u)], -1)
        d = d_cam @ R  # world directions with unit camera z, so ray parameter = depth
        o = -R.T @ t
        best = torch.full((H, W), float("inf"), dtype=torch.float64)
        best_id = torch.zeros(H, W, dtype=torch.long)
        if floor:
            t_floor = -o[2] / d[..., 2]
            hit = (d[..., 2] < 0) & (t_floor > 0)
            best = torch.where(hit, t_floor, best)
            best_id = torch.where(hit, torch.full_like(best_id, FLOOR_ID), best_id)
        for box_id, (lo, hi) in BOXES.items():
            safe = torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
            t1 = (torch.tensor(lo, dtype=d.dtype) - o) / safe
            t2 = (torch.tensor(hi, dtype=d.dtype) - o) / safe
            t_near = torch.minimum(t1, t2).amax(-1)
            t_far = torch.maximum(t1, t2).amin(-1)
            hit = (t_far >= t_near) & (t_near > 0) & (t_near < best)
            best = torch.where(hit, t_near, best)
            best_id = torch.where(hit, torch.full_like(best_id, box_id), best_id)
        depth[s] = torch.where(torch.isfinite(best), best, torch.zeros_like(best))
        ids[s] = best_id
    return depth.float(), ids


def _scene_points(floor=True, margin=0.03, step=0.05):
    """Points on the box faces (not the bottom) away from edges, plus a floor grid.

    Returns points [M, 3], GT instance id [M] and superpoint id [M] (one per box face / floor cell).
    """
    points, gt, sp = [], [], []
    for box_id, (lo, hi) in BOXES.items():
        lo, hi = np.asarray(lo), np.asarray(hi)
        for axis in range(3):
            for side, value in (("lo", lo[axis]), ("hi", hi[axis])):
                if axis == 2 and side == "lo":
                    continue
                a, b = [i for i in range(3) if i != axis]
                ga = np.arange(lo[a] + margin, hi[a] - margin + 1e-9, step)
                gb = np.arange(lo[b] + margin, hi[b] - margin + 1e-9, step)
                A, B = np.meshgrid(ga, gb, indexing="ij")
                p = np.zeros((A.size, 3))
                p[:, axis], p[:, a], p[:, b] = value, A.ravel(), B.ravel()
                points.append(p)
                gt += [box_id] * len(p)
                sp += [box_id * 10 + axis * 2 + (side == "hi")] * len(p)
    if floor:
        g = np.arange(-2.0, 2.0 + 1e-9, 0.1)
        X, Y = np.meshgrid(g, g, indexing="ij")
        p = np.stack([X.ravel(), Y.ravel(), np.zeros(X.size)], 1)
        under = np.zeros(len(p), bool)
        for lo, hi in BOXES.values():
            inside_x = (p[:, 0] > lo[0] - 0.05) & (p[:, 0] < hi[0] + 0.05)
            under |= inside_x & (p[:, 1] > lo[1] - 0.05) & (p[:, 1] < hi[1] + 0.05)
        p = p[~under]
        points.append(p)
        gt += [FLOOR_ID] * len(p)
        cell = (np.floor(p[:, 0] / 0.5) * 100 + np.floor(p[:, 1] / 0.5)).astype(np.int64)
        sp += list(1000 + cell - cell.min())
    return torch.tensor(np.concatenate(points), dtype=torch.float32), torch.tensor(gt), torch.tensor(sp)


def test_a_mask_covering_one_object_in_every_view_lifts_to_that_object():
    cams, K = _cameras()
    depth, ids = _render(cams, K, floor=False)
    points, gt, _ = _scene_points(floor=False)
    visible, pixel = point_visibility(points, cams, K, depth)
    seen = visible.any(0)
    assert seen[gt == BOX_A].float().mean() > 0.5 and seen[gt == BOX_B].float().mean() > 0.5
    probs = (ids == BOX_A).float()[None]  # [1, S, H, W] at image resolution
    masks, point_probs = lift_masks(probs, visible, pixel, None, image_size=(H, W))
    assert torch.equal(masks[0], seen & (gt == BOX_A))
    assert torch.all(point_probs[0, seen & (gt == BOX_A)] == 1.0)
    # at half resolution: a mask pixel that holds any object pixel still lifts exactly that object
    # (the lookup reads the mask pixel containing each image pixel's centre) ...
    covering = torch.nn.functional.max_pool2d(probs, 2)
    masks_half, _ = lift_masks(covering, visible, pixel, None, image_size=(H, W))
    assert torch.equal(masks_half[0], seen & (gt == BOX_A))
    # ... and area-averaged probabilities lose only boundary points, never gain others
    averaged_probs = torch.nn.functional.avg_pool2d(probs, 2)
    averaged, _ = lift_masks(averaged_probs, visible, pixel, None, image_size=(H, W))
    assert not (averaged[0] & (gt != BOX_A)).any() and averaged[0].sum() > 0.5 * masks[0].sum()


def test_oracle_lifting_matches_the_point_ground_truth():
    cams, K = _cameras()
    depth, ids = _render(cams, K)
    points, gt, sp = _scene_points()
    lifted = lift_ground_truth_masks(ids, LABELS, cams, K, depth, points, sp)
    assert lifted.labels.tolist() == [2, 3, 4] and np.all(lifted.scores == 1.0)
    assert lifted.source_index.tolist() == [FLOOR_ID, BOX_A, BOX_B]
    seen = point_visibility(points, cams, K, depth)[0].any(0).numpy()
    predicted = np.zeros(len(points), np.int64)
    for inst, mask in zip(lifted.source_index, lifted.masks):
        predicted[mask] = inst
    accuracy = (predicted == gt.numpy())[seen].mean()
    assert seen.mean() > 0.5 and accuracy >= 0.9, (seen.mean(), accuracy)
    # only the evaluated classes when asked (floor is not an instance class)
    evaluated = lift_ground_truth_masks(ids, LABELS, cams, K, depth, points, sp, label_ids=(3, 4))
    assert evaluated.labels.tolist() == [3, 4]


def _predictions(ids, classes):
    """Queries: box A as 'table' (confident), box B as 'chair' (less), one 'no object' query."""
    K1 = classes.num_classes + 1
    logits = torch.full((3, K1), -5.0)
    logits[0, classes.index_of(np.array([3]))[0]] = 5.0
    logits[1, classes.index_of(np.array([4]))[0]] = 1.0
    logits[2, -1] = 5.0
    onehot = torch.stack([(ids == BOX_A), (ids == BOX_B), (ids == FLOOR_ID)]).float()  # [Q, S, H, W]
    mask_logits = (torch.nn.functional.avg_pool2d(onehot, 2) - 0.5) * 12.0  # [Q, S, h, w]
    return logits, mask_logits


def test_lift_predictions_end_to_end():
    classes = benchmark_classes("synthetic")
    cams, K = _cameras()
    depth, ids = _render(cams, K)
    points, gt, sp = _scene_points()
    logits, mask_logits = _predictions(ids, classes)
    config = LiftConfig(min_score=0.05)
    lifted = lift_predictions(logits, mask_logits, cams, K, depth, points, sp, classes, config)
    assert lifted.labels.tolist() == [3, 4]  # the no-object query falls under min_score
    assert lifted.source_index.tolist() == [0, 1] and lifted.scores[0] > lifted.scores[1]
    seen = point_visibility(points, cams, K, depth)[0].any(0).numpy()
    for mask, inst in zip(lifted.masks, (BOX_A, BOX_B)):
        assert ((mask == (gt.numpy() == inst))[seen]).mean() >= 0.9
    top1 = lift_predictions(logits, mask_logits, cams, K, depth, points, sp, classes, LiftConfig(top_k=1))
    assert top1.labels.tolist() == [3]


def test_lifting_with_aligned_predicted_geometry_equals_lifting_with_ground_truth():
    cams, K = _cameras()
    depth, ids = _render(cams, K)
    points, _, sp = _scene_points()
    # a prediction in another frame: x_gt = s R x_pred + t
    angle = 0.7
    c, s = np.cos(angle), np.sin(angle)
    R = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float32)
    sim3 = Sim3(torch.tensor(2.5), R, torch.tensor([0.3, -1.0, 0.5]))
    inverse = Sim3(1 / sim3.scale, R.T, -(R.T @ sim3.translation) / sim3.scale)
    pred_cams, pred_depth = transform_cameras(cams, inverse), depth / sim3.scale
    aligned_cams, aligned_depth = select_geometry("predicted", cams, depth, pred_cams, pred_depth)
    assert torch.allclose(aligned_cams, cams, atol=1e-4) and torch.allclose(aligned_depth, depth, atol=1e-4)
    assert select_geometry("gt", cams, depth, pred_cams, pred_depth)[0] is cams
    with pytest.raises(ValueError, match="unknown geometry mode"):
        select_geometry("sensor", cams, depth)
    a = lift_ground_truth_masks(ids, LABELS, cams, K, depth, points, sp)
    b = lift_ground_truth_masks(ids, LABELS, aligned_cams, K, aligned_depth, points, sp)
    assert (a.masks == b.masks).mean() > 0.999


def test_lift_predictions_names_a_class_count_mismatch():
    classes = benchmark_classes("synthetic")
    cams, K = _cameras()
    with pytest.raises(ValueError, match="synthetic"):
        lift_predictions(torch.zeros(2, 5), torch.zeros(2, 4, 24, 32), cams, K, torch.ones(4, H, W),
                         torch.zeros(3, 3), None, classes)  # fmt: skip


def test_topk_pairs_list_one_lifted_mask_under_several_labels():
    classes = benchmark_classes("synthetic")
    cams, K = _cameras()
    depth, ids = _render(cams, K)
    points, _, sp = _scene_points()
    logits, mask_logits = _predictions(ids, classes)
    sofa = classes.index_of(np.array([6]))[0]
    logits[1, sofa] = 0.9  # box B: chair (1.0) or sofa (0.9)
    config = LiftConfig(min_score=0.05, top_k=6, ranking="topk_pairs")
    both = lift_ranked(logits, mask_logits, cams, K, depth, points, sp, classes, config,
                       rankings=("topk_pairs", "per_query"))  # fmt: skip
    pairs, per_query = both["topk_pairs"], both["per_query"]
    assert per_query.source_index.tolist() == [0, 1] and per_query.labels.tolist() == [3, 4]
    rows_b = np.flatnonzero(pairs.source_index == 1)
    assert sorted(pairs.labels[rows_b].tolist()) == [4, 6]
    assert (pairs.masks[rows_b[0]] == pairs.masks[rows_b[1]]).all()  # the same lifted mask
    assert (pairs.masks[rows_b[0]] == per_query.masks[1]).all()
    assert np.all(np.diff(pairs.scores) <= 0)
    single = lift_predictions(logits, mask_logits, cams, K, depth, points, sp, classes, config)
    assert single.labels.tolist() == pairs.labels.tolist()
