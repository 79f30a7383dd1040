import pytest
import torch

from segvggt.losses.prompt_clicks import interior_depth, sample_prompts
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


def test_positives_inside_negatives_outside():
    ids, targets = _scene()
    for seed in range(10):
        prompts, prompt_targets = sample_prompts(
            ids, targets, num_prompts=5, max_positive=4, max_negative=3, max_views=2,
            generator=torch.Generator().manual_seed(seed),
        )
        assert len(prompts) == prompt_targets.numel() == 2  # capped at N instances, each once
        assert sorted(prompt_targets.tolist()) == [0, 1]
        for clicks, n in zip(prompts, prompt_targets.tolist()):
            inst = int(targets.instance_ids[n])
            assert clicks[0][3] is True  # first click positive
            assert 1 <= sum(c[3] for c in clicks) <= 4 and sum(not c[3] for c in clicks) <= 3
            for frame, x, y, positive in clicks:
                inside = int(ids[frame, int(y), int(x)]) == inst
                assert inside == positive
                assert x == int(x) and y == int(y)


def test_positives_prefer_the_interior():
    ids, targets = _scene()
    depth = interior_depth(ids == 7)
    for seed in range(5):
        prompts, pt = sample_prompts(ids, targets, 2, max_positive=6, max_negative=0, max_views=2,
                                     generator=torch.Generator().manual_seed(seed))
        for clicks, n in zip(prompts, pt.tolist()):
            if n != 0:
                continue
            for frame, x, y, _ in clicks:
                # 10x12 box: deepest pixel survives 5 erosions; interior = at least 3
                assert int(depth[frame, int(y), int(x)]) >= 3


def test_interior_depth_known_values():
    mask = torch.zeros(1, 7, 7, dtype=torch.bool)
    mask[0, 1:6, 1:6] = True
    depth = interior_depth(mask)
    assert depth[0, 3, 3] == 3 and depth[0, 2, 3] == 2 and depth[0, 1, 1] == 1 and depth[0, 0, 0] == 0


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
