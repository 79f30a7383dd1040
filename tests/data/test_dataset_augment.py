"""Resize / crop keeps the cameras consistent; colour jitter stays in range."""

from __future__ import annotations

import numpy as np
import torch

from segvggt.data.augment import color_jitter, resize_crop
from segvggt.geometry import project_to_pixels


def test_resize_crop_keeps_projection_consistent():
    H0, W0 = 60, 90
    K = torch.tensor([[[70.0, 0, 44.5], [0, 70.0, 29.5], [0, 0, 1]]])
    E = torch.cat([torch.eye(3), torch.zeros(3, 1)], dim=1)[None]
    point = torch.tensor([[[0.0, -0.2, 2.0]]])
    (uv0,), _ = project_to_pixels(point, E, K)
    u0, v0 = (int(round(x)) for x in uv0[0].tolist())
    ids = torch.zeros(1, H0, W0, dtype=torch.int64)
    ids[0, v0 - 4 : v0 + 5, u0 - 4 : u0 + 5] = 5  # a 9 x 9 block centred on the projected pixel
    images = torch.rand(1, 3, H0, W0)
    depth = torch.full((1, H0, W0), 2.0)
    offsets = set()
    for seed in range(5):
        rng = np.random.default_rng(seed)
        _, d, out_ids, K2 = resize_crop(images, depth, ids, K, (28, 28), rng)  # random x offset in [0, 14]
        (uv,), _ = project_to_pixels(point, E, K2)
        v, u = torch.nonzero(out_ids[0] == 5, as_tuple=True)
        centroid = torch.stack([u.float().mean(), v.float().mean()])
        assert torch.allclose(centroid, uv[0], atol=0.6), (centroid, uv)
        assert torch.all(d == 2.0) and set(torch.unique(out_ids).tolist()) == {0, 5}
        scale = 28 / 60  # the height limits: 90 x 60 -> 42 x 28, then cropped
        assert abs(K2[0, 0, 0].item() - 70 * scale) < 1e-4
        offsets.add(round(K2[0, 0, 2].item(), 3))
    assert len(offsets) > 1  # the crops really moved


def test_resize_crop_intrinsics_formula_and_centre_crop():
    K = torch.tensor([[[100.0, 0, 63.5], [0, 100.0, 47.5], [0, 0, 1]]])  # 128 x 96 image
    images, depth, ids = torch.rand(1, 3, 96, 128), torch.ones(1, 96, 128), torch.zeros(1, 96, 128, dtype=torch.int64)
    out, _, _, K2 = resize_crop(images, depth, ids, K, (48, 48))  # scale 0.5 -> 64 x 48, crop x0 = 8
    assert out.shape == (1, 3, 48, 48)
    cx = (63.5 + 0.5) * 0.5 - 0.5 - 8  # scaled about pixel edges, then shifted by the crop
    torch.testing.assert_close(K2[0], torch.tensor([[50.0, 0, cx], [0, 50.0, 23.5], [0, 0, 1]]))


def test_color_jitter_range_and_identity():
    rng = np.random.default_rng(0)
    images = torch.rand(4, 3, 8, 8)
    out = color_jitter(images, 0.4, rng)
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1 and not torch.equal(out, images)
    assert torch.equal(color_jitter(images, 0.0, rng), images)
    gray = torch.full((1, 3, 4, 4), 0.5)  # contrast and saturation leave a flat gray image gray
    out = color_jitter(gray, 0.3, np.random.default_rng(1))
    assert torch.allclose(out, out[:, :1].expand_as(out)) and torch.allclose(out, out.mean().expand_as(out))
