"""Training clicks: the evaluation's rule (MV-SAM protocol), so both share one distribution."""

import pytest
import torch

from segvggt.evaluation.prompt_metrics import seeded_clicks
from segvggt.losses.prompt_clicks import eligible_instances, interior_depth, place_clicks, sample_prompts
from segvggt.types import InstanceTargets


def _scene():
    """S=3 views of 24x32: instance 7 = a 10x12 box on views 0 and 2, instance 9 = a strip on view 1."""
    ids = torch.zeros(3, 24, 32, dtype=torch.int64)
    ids[0, 4:14, 6:18] = 7
    ids[2, 10:20, 15:27] = 7
    ids[1, :, 28:] = 9
    ids[1, 2:6, 2:6] = 4  # id 4 is not a target: counts as "outside" for every prompt
    targets = InstanceTargets(
        labels=torch.tensor([0, 1]),
        masks=torch.zeros(2, 3, 12, 16),
        visibility=torch.tensor([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]]),
        instance_ids=torch.tensor([7, 9]),
    )
    return ids, targets


def test_positives_inside_negatives_outside_exact_counts():
    ids, targets = _scene()
    for seed in range(10):
        prompts, prompt_targets = sample_prompts(
            ids, targets, num_prompts=5, max_positive=4, max_negative=3, max_views=0,
            generator=torch.Generator().manual_seed(seed),
        )
        assert len(prompts) == prompt_targets.numel() == 2  # capped at N instances, each once
        assert sorted(prompt_targets.tolist()) == [0, 1]
        for clicks, n in zip(prompts, prompt_targets.tolist()):
            inst = int(targets.instance_ids[n])
            assert [c[3] for c in clicks] == [True] * 4 + [False] * 3  # positives first, exact counts
            for frame, x, y, positive in clicks:
                inside = int(ids[frame, int(y), int(x)]) == inst
                assert inside == positive
                assert x == int(x) and y == int(y)
            if inst == 7:  # spread over both views that show it
                assert {c[0] for c in clicks} == {0, 2}


def test_max_views_limits_the_views():
    ids, targets = _scene()
    for seed in range(5):
        prompts, pt = sample_prompts(ids, targets, 2, max_positive=6, max_negative=2, max_views=1,
                                     generator=torch.Generator().manual_seed(seed))
        for clicks in prompts:
            assert len({c[0] for c in clicks}) == 1


def test_positives_prefer_the_interior():
    ids, targets = _scene()
    depth = interior_depth(ids == 7)
    for seed in range(5):
        prompts, pt = sample_prompts(ids, targets, 2, max_positive=6, max_negative=0,
                                     generator=torch.Generator().manual_seed(seed))
        for clicks, n in zip(prompts, pt.tolist()):
            if n != 0:
                continue
            for frame, x, y, _ in clicks:
                # 10x12 box: deepest pixel survives 5 erosions; interior = more than 2
                assert int(depth[frame, int(y), int(x)]) >= 3


def test_interior_depth_known_values():
    mask = torch.zeros(1, 7, 7, dtype=torch.bool)
    mask[0, 1:6, 1:6] = True
    depth = interior_depth(mask)
    assert depth[0, 3, 3] == 3 and depth[0, 2, 3] == 2 and depth[0, 1, 1] == 1 and depth[0, 0, 0] == 0


def test_objects_below_a_tenth_of_a_percent_are_never_prompted():
    _, targets = _scene()
    big = torch.zeros(3, 48, 64, dtype=torch.int64)  # 3072 pixels: 0.1 % = 3.07 pixels
    big[0, 4:14, 6:18] = 7
    big[1, 0, 0:3] = 9  # 3 pixels: below 0.1 %
    assert eligible_instances(big, torch.tensor([7, 9])).tolist() == [True, False]
    for seed in range(5):
        prompts, pt = sample_prompts(big, targets, 2, generator=torch.Generator().manual_seed(seed))
        assert pt.tolist() == [0]


def test_training_and_evaluation_share_the_rule():
    """With the same generator state the training sampler and the evaluation's seeded clicks agree."""
    ids, _ = _scene()
    a = place_clicks(ids == 7, 10, 2, torch.Generator().manual_seed(5))
    evaluation = seeded_clicks(ids, 7, 10, 2, seed=1)
    assert len(evaluation) == 12 and {c[0] for c in evaluation} == {0, 2}
    # the view histogram of the training rule equals the evaluation's: 5 + 1 clicks per view
    for clicks in (a, evaluation):
        assert sorted(sum(1 for c in clicks if c[0] == v) for v in (0, 2)) == [6, 6]


def test_deterministic_with_a_seed():
    ids, targets = _scene()
    a = sample_prompts(ids, targets, 2, generator=torch.Generator().manual_seed(123))
    b = sample_prompts(ids, targets, 2, generator=torch.Generator().manual_seed(123))
    assert a[0] == b[0] and torch.equal(a[1], b[1])
    gens = [torch.Generator().manual_seed(s) for s in range(1, 6)]
    others = [sample_prompts(ids, targets, 2, generator=g)[0] for g in gens]
    assert any(o != a[0] for o in others)


def test_empty_scene_and_bad_input():
    ids, targets = _scene()
    none = InstanceTargets(torch.zeros(0, dtype=torch.int64), torch.zeros(0, 3, 12, 16), torch.zeros(0, 3),
                           torch.zeros(0, dtype=torch.int64))
    prompts, pt = sample_prompts(ids, none, 3)
    assert prompts == [] and pt.numel() == 0
    with pytest.raises(ValueError, match="has no pixel"):
        sample_prompts(torch.zeros_like(ids), targets, 1)
    with pytest.raises(ValueError, match="max_positive"):
        sample_prompts(ids, targets, 1, max_positive=0)


def _reference_depth(mask: torch.Tensor) -> torch.Tensor:
    """The definition, on the whole image: 3x3 erosions by max pooling (padding never erodes)."""
    current, depth = mask.float()[:, None], torch.zeros(mask.shape, dtype=torch.int64)
    while bool(current.any()):
        depth += current[:, 0].long()
        current = -torch.nn.functional.max_pool2d(-current, kernel_size=3, stride=1, padding=1)
    return depth


def test_interior_depth_in_its_box_equals_whole_image_erosion():
    g = torch.Generator().manual_seed(0)
    for trial in range(30):
        V, H, W = 1 + trial % 3, 5 + trial % 11, 6 + trial % 13
        blobs = torch.rand(V, H // 2 + 1, W // 2 + 1, generator=g) < 0.6
        mask = blobs.repeat_interleave(2, 1).repeat_interleave(2, 2)[:, :H, :W].contiguous()  # touches borders
        if trial % 4 == 0:
            mask[:] = False
            mask[:, 2:4, 3:5] = True  # a small box away from the borders
        assert torch.equal(interior_depth(mask), _reference_depth(mask)), trial
    assert torch.equal(interior_depth(torch.zeros(2, 4, 4, dtype=torch.bool)), torch.zeros(2, 4, 4, dtype=torch.int64))


@pytest.mark.parametrize("scale,shift", [(1, 0), (10**9, 0), (1, -5)])
def test_instance_view_areas_are_pixel_counts_whatever_the_ids(scale, shift):
    """Small ids take the bincount path, huge or negative ones the sorted-distinct path: same counts."""
    from segvggt.losses.prompt_clicks import instance_view_areas

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 6, (4, 9, 11), generator=g) * scale + shift
    wanted = torch.tensor([3, 0, 5, 7]) * scale + shift  # 7 * scale + shift is absent
    area = instance_view_areas(ids, wanted)
    brute = torch.stack([(ids == int(i)).flatten(1).sum(1) for i in wanted])
    assert torch.equal(area, brute) and area[3].sum() == 0
    assert instance_view_areas(ids, torch.zeros(0, dtype=torch.int64)).shape == (0, 4)
