"""The click decoder: padded clicks change nothing (what the CUDA graphs rely on), the Predictor's clicks
equal the model's plain decode, and on a GPU the graph replay equals the eager answer."""

from __future__ import annotations

import pytest
import torch

from segvggt.inference.checkpoints import LoadedModel
from segvggt.inference.click_graph import ClickDecoder, pad_clicks, padded
from segvggt.inference.predictor import Predictor
from segvggt.segmentation.prompts import parse_prompts

from inference_fixtures import IMAGE_SIZE

PROMPTS = [[(0, 10.0, 20.0, True), (2, 40.5, 11.0, False), (1, 3.0, 3.0, True)], [(1, 5.0, 5.0, True)]]


def test_padding_prompts_and_clicks_leaves_the_answers_unchanged(tiny_model):
    torch.manual_seed(2)
    images = torch.rand(1, 3, 3, 42, 56)
    with torch.no_grad():
        encoded = tiny_model.encode(images)
        cache = tiny_model.object_query_cache(encoded)
        clicks = parse_prompts([PROMPTS], 1, 3, (42, 56), torch.device("cpu"))
        plain = tiny_model.decode_clicks(encoded, clicks, cache)
        big = pad_clicks(clicks, padded(5), padded(3))
        assert big.frame.shape == (1, 8, 4) and big.prompt_valid.tolist() == [[True, True] + [False] * 6]
        padded_out = tiny_model.decode_clicks(encoded, big, cache)
    torch.testing.assert_close(padded_out["prompt_masks"][:, :2], plain["prompt_masks"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded_out["prompt_scores"][:, :2], plain["prompt_scores"], atol=1e-5, rtol=1e-5)
    assert torch.all(padded_out["prompt_masks"][:, 2:] == 0) and torch.all(padded_out["prompt_scores"][:, 2:] == 0)
    assert [padded(n) for n in (1, 2, 3, 4, 5, 9)] == [1, 2, 4, 4, 8, 16]


def test_predictor_clicks_equal_the_plain_decode_of_the_model(tiny_model):
    torch.manual_seed(3)
    images = torch.rand(3, 3, 42, 56)
    predictor = Predictor(LoadedModel(tiny_model, "export", "synthetic", IMAGE_SIZE, "crop", "test"), "cpu")
    predictor.set_images(images)
    answers = predictor.segment_prompts(PROMPTS)
    with torch.no_grad():
        reference = tiny_model.decode(tiny_model.encode(images[None]), [PROMPTS], prompts_only=True)
    for r, answer in enumerate(answers):
        torch.testing.assert_close(answer.mask_logits, reference["prompt_masks"][0, r], atol=1e-5, rtol=1e-5)
        assert answer.score == pytest.approx(float(reference["prompt_scores"][0, r].sigmoid()), abs=1e-6)
    assert predictor._scene.cache is not None  # noqa: SLF001 - the object queries ran once, for both prompts


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_replay_equals_the_eager_click(backbone_config):
    from inference_fixtures import make_tiny

    model = make_tiny(backbone_config).cuda()
    torch.manual_seed(4)
    images = torch.rand(1, 3, 3, 42, 56, device="cuda")
    for dtype in (None, torch.bfloat16):
        with torch.no_grad(), torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            encoded = model.encode(images)
            cache = model.object_query_cache(encoded)
        decoder = ClickDecoder(model, encoded, cache, dtype, use_graphs=True)
        for prompts in ([PROMPTS[0]], PROMPTS, [PROMPTS[1]], [PROMPTS[0]]):  # three shapes, then the first again
            clicks = parse_prompts([prompts], 1, 3, (42, 56), torch.device("cuda"))
            replayed, eager = decoder(clicks), decoder.eager(clicks)
            assert decoder.use_graphs, "the CUDA graph capture failed"
            torch.testing.assert_close(replayed["prompt_masks"], eager["prompt_masks"], atol=1e-3, rtol=1e-3)
            torch.testing.assert_close(replayed["prompt_scores"], eager["prompt_scores"], atol=1e-3, rtol=1e-3)
