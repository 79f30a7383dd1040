"""Click parsing/validation and bilinear token sampling."""

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from segvggt.segmentation.prompts import parse_prompts, sample_patch_tokens
from segvggt.segmentation.query_block import prompt_isolation_mask

CPU = torch.device("cpu")


def test_parse_pads_prompts_and_clicks():
    prompts = [[[(0, 1.0, 2.0, True)], [(1, 3.0, 4.0, True), (2, 5.0, 6.0, False)]], []]
    clicks = parse_prompts(prompts, 2, 3, (28, 42), CPU)
    assert clicks.frame.shape == (2, 2, 2) and clicks.xy.shape == (2, 2, 2, 2)
    assert clicks.prompt_valid.tolist() == [[True, True], [False, False]]
    assert clicks.click_valid[0].tolist() == [[True, False], [True, True]]
    assert clicks.frame[0, 1].tolist() == [1, 2] and clicks.positive[0, 1].tolist() == [1, 0]
    assert clicks.xy[0, 1, 1].tolist() == [5.0, 6.0]


@pytest.mark.parametrize(
    "click, message",
    [
        ((3, 1.0, 1.0, True), r"scene 0, prompt 1, click 0 .*frame 3 is not a view index in \[0, 3\)"),
        ((-1, 1.0, 1.0, True), r"frame -1"),
        ((0, 42.5, 1.0, True), r"x=42.5, y=1.0\) is outside the 42x28 image"),
        ((0, 1.0, -0.5, True), r"outside the 42x28 image"),
        ((0, float("nan"), 1.0, True), r"outside"),
        ((0, 1.0, 1.0), r"a click is \(frame, x, y, positive\)"),
    ],
)
def test_bad_clicks_raise_one_clear_error_naming_the_click(click, message):
    prompts = [[[(0, 1.0, 1.0, True)], [click]]]
    with pytest.raises(ValueError, match=message):
        parse_prompts(prompts, 1, 3, (28, 42), CPU)


def test_wrong_structure_raises():
    with pytest.raises(ValueError, match="2 entries but the batch has 1 scenes"):
        parse_prompts([[], []], 1, 3, (28, 42), CPU)
    with pytest.raises(ValueError, match="scene 0, prompt 0 has no clicks"):
        parse_prompts([[[]]], 1, 3, (28, 42), CPU)


def test_sampling_equals_grid_sample_with_border_padding():
    g = torch.Generator().manual_seed(0)
    B, S, gh, gw, C, patch = 2, 3, 4, 5, 6, 14
    tokens = torch.randn(B, S, gh * gw, C, generator=g)
    H, W = gh * patch, gw * patch
    prompts = [
        [[(s, float(x), float(y), True)] for s, x, y in [(0, 0.0, 0.0), (2, W, H), (1, 20.3, 33.7), (2, 7.0, 50.0)]],
        [[(1, 30.0, 10.0, False), (0, 69.9, 55.1, True)]],
    ]
    clicks = parse_prompts(prompts, B, S, (H, W), CPU)
    sampled = sample_patch_tokens(tokens, (gh, gw), clicks, patch)
    maps = rearrange(tokens, "b s (h w) c -> b s c h w", h=gh)
    for b in range(B):
        for r in range(clicks.num_prompts):
            for n in range(clicks.frame.shape[2]):
                if not clicks.click_valid[b, r, n]:
                    continue
                x, y = clicks.xy[b, r, n]
                grid = torch.stack([2 * x / W - 1, 2 * y / H - 1]).view(1, 1, 1, 2)
                ref = F.grid_sample(maps[b, clicks.frame[b, r, n]][None], grid, align_corners=False, padding_mode="border")
                torch.testing.assert_close(sampled[b, r, n], ref.view(C), atol=1e-6, rtol=0)


def test_click_at_a_patch_centre_samples_that_patch_exactly():
    tokens = torch.arange(2 * 6 * 3, dtype=torch.float32).view(1, 2, 6, 3)  # grid 2 x 3
    clicks = parse_prompts([[[(1, 14 * 2.5, 14 * 1.5, True)]]], 1, 2, (28, 42), CPU)
    assert torch.equal(sample_patch_tokens(tokens, (2, 3), clicks, 14)[0, 0, 0], tokens[0, 1, 1 * 3 + 2])


def test_prompt_isolation_mask():
    mask = prompt_isolation_mask(2, 3, CPU).int().tolist()
    assert mask == [
        [1, 1, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],
        [1, 1, 0, 1, 0],
        [1, 1, 0, 0, 1],
    ]
