"""A SceneResult built by hand from known cameras and depth (no model), for tests of the exports and scale.

Three photos of 16 x 12 pixels (network size = photo size, so every map is known exactly). View i looks
along a camera rotated 20*i degrees about y, translated by (0.3 i, -0.1 i, 0.2 i); its depth is the plane
d(u, v) = 2 + 0.05 u + 0.02 v + 0.1 i. Every pixel is one point; instance 1 ("chair") owns u < 5, instance 2
("table") owns v > 8 and u >= 10 (in every view).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from segvggt.backbone import ImageRecord
from segvggt.inference.result import Instance, SceneResult, ViewMaps

H, W, S = 12, 16, 3


def rotation_y(degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def camera(i: int) -> tuple[np.ndarray, np.ndarray]:
    """(cam_from_world [3, 4], intrinsics [3, 3]) of view i."""
    E = np.concatenate([rotation_y(20 * i), np.array([[0.3 * i], [-0.1 * i], [0.2 * i]])], 1)
    K = np.array([[20.0 + i, 0, 7.5], [0, 22.0 + i, 5.25], [0, 0, 1]])
    return E, K


def depth_plane(i: int) -> np.ndarray:
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    return 2 + 0.05 * u + 0.02 * v + 0.1 * i


def ids_map() -> np.ndarray:
    v, u = np.mgrid[0:H, 0:W]
    ids = np.zeros((H, W), np.int32)
    ids[u < 5] = 1
    ids[(v > 8) & (u >= 10)] = 2
    return ids


def photo(i: int) -> np.ndarray:
    v, u = np.mgrid[0:H, 0:W]
    return np.stack([u * 15, v * 20, np.full((H, W), 60 * i + 30)], -1).astype(np.uint8)


def known_scene(folder: Path) -> tuple[SceneResult, np.ndarray]:
    """(SceneResult, source pixel [M, 2] (u, v) of every point); photos are written to folder/photo_<i>.png."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    records, cams, Ks, pts, cols, views, pix, depths = [], [], [], [], [], [], [], []
    for i in range(S):
        path = folder / f"photo_{i}.png"
        Image.fromarray(photo(i)).save(path)
        records.append(ImageRecord(str(path), (H, W), (H, W), (0, 0), (H, W)))
        E, K = camera(i)
        d = depth_plane(i)
        p_cam = np.stack([(u - K[0, 2]) / K[0, 0] * d, (v - K[1, 2]) / K[1, 1] * d, d], -1).reshape(-1, 3)
        pts.append((p_cam - E[:, 3]) @ E[:, :3])  # R^T (p - t)
        cols.append(photo(i).reshape(-1, 3))
        views.append(np.full(H * W, i, np.int32))
        pix.append(np.stack([u, v], -1).reshape(-1, 2))
        cams.append(E)
        Ks.append(K)
        depths.append(d)
    points = np.concatenate(pts).astype(np.float32)
    ids = np.tile(ids_map().reshape(-1), S)
    conf = np.tile(1.0 + (u + v).reshape(-1) / (H + W) * 4, S).astype(np.float32)
    instances = []
    for n, name in ((1, "chair"), (2, "table")):
        own = ids == n
        instances.append(Instance(id=n, query=n - 1, class_index=n, label_id=n, class_name=name, score=0.9 - 0.1 * n,
                                  points=points[own], confidence=conf[own],
                                  pixels_per_view=np.full(S, int((ids_map() == n).sum()))))
    half = torch.from_numpy(ids_map()[::2, ::2].astype(np.int64))
    logits = torch.stack([torch.where(half == n, 10.0, -10.0) for n in (1, 2)])[:, None].expand(-1, S, -1, -1)
    maps = ViewMaps(records, torch.tensor(np.stack(depths), dtype=torch.float32),
                    torch.from_numpy(conf.reshape(S, H, W)), logits.contiguous(), torch.tensor([0.8, 0.7]))
    result = SceneResult(
        names=[f"photo_{i}" for i in range(S)], records=records, cam_from_world=np.stack(cams).astype(np.float32),
        intrinsics=np.stack(Ks).astype(np.float32), network_intrinsics=np.stack(Ks).astype(np.float32),
        points=points, colors=np.concatenate(cols), confidence=conf, instance_ids=ids,
        views=np.concatenate(views), instances=instances, has_segmentation=True,
        message="2 instance(s) with score >= 0.5", mask_threshold=0.5, maps=maps,
    )  # fmt: skip
    return result, np.concatenate(pix)


def with_finite_cameras(model):
    """A copy of a random tiny SegVGGT whose camera head predicts a ~57 degree field of view for every photo.

    Random weights often give a field of view <= 0 (focal length inf after the ReLU); the exports refuse such
    cameras, so tests that export from a model use this copy: the FoV outputs of the last pose layer become
    a constant 0.25 per refinement step (4 steps -> 1 rad)."""
    import copy

    model = copy.deepcopy(model)
    with torch.no_grad():
        fc2 = model.vggt.camera_head.pose_branch.fc2
        fc2.weight[7:].zero_()
        fc2.bias[7:] = 0.25
    return model
