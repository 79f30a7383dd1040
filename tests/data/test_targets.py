"""Instance targets: class indices, masks at mask resolution and the visibility distribution."""

from __future__ import annotations

import torch

from segvggt.data.classes import benchmark_classes
from segvggt.data.targets import build_targets, downsample_ids, keep_instance_classes

SYNTH = benchmark_classes("synthetic")


def test_visibility_of_a_hand_made_case():
    ids = torch.zeros(3, 4, 4, dtype=torch.int64)
    ids[0, :2, :2] = 5  # instance 5: 4 px in view 0, 2 px in view 1, 2 px in view 2
    ids[1, 0, :2] = 5
    ids[2, 3, 2:] = 5
    ids[1, 2:, :] = 9  # instance 9: 8 px in view 1 only
    t = build_targets(ids, {5: 0, 9: 3}, (4, 4))
    assert t.instance_ids.tolist() == [5, 9] and t.labels.tolist() == [0, 3]
    torch.testing.assert_close(t.visibility, torch.tensor([[0.5, 0.25, 0.25], [0.0, 1.0, 0.0]]))
    assert t.masks.shape == (2, 3, 4, 4)
    assert t.masks[0].sum() == 8 and t.masks[1, 1].sum() == 8 and t.masks[1, 0].sum() == 0


def test_masks_at_half_resolution_and_invisible_instances_dropped():
    ids = torch.zeros(2, 4, 6, dtype=torch.int64)
    ids[:, 1::2, 1::2] = 3  # centre-aligned nearest sampling at stride 2 picks odd rows/columns
    ids[0, 0, 0] = 4  # one even pixel: gone at mask resolution -> dropped
    t = build_targets(ids, {3: 1, 4: 2}, (2, 3))
    assert t.instance_ids.tolist() == [3]
    assert t.masks.shape == (1, 2, 2, 3) and bool((t.masks == 1).all())
    torch.testing.assert_close(t.visibility, torch.tensor([[0.5, 0.5]]))
    assert downsample_ids(ids, (2, 3)).tolist() == [[[3, 3, 3], [3, 3, 3]]] * 2


def test_non_instance_classes_become_background():
    ids = torch.tensor([[[1, 2, 3, 7]]])
    # labels: wall (1), table (3), floor (2); instance 7 has no label at all
    clean, class_of = keep_instance_classes(ids, {1: 1, 2: 3, 3: 2}, SYNTH)
    assert clean.tolist() == [[[0, 2, 0, 0]]] and class_of == {2: 0}
    t = build_targets(clean, class_of, (1, 4))
    assert t.labels.tolist() == [0] and t.instance_ids.tolist() == [2]


def test_no_instances_gives_empty_targets():
    t = build_targets(torch.zeros(2, 4, 4, dtype=torch.int64), {}, (2, 2))
    assert t.num_instances == 0 and t.masks.shape == (0, 2, 2, 2) and t.visibility.shape == (0, 2)
