"""Object-query cache: a cached decode equals the plain one, and a click then runs only its prompt queries."""

import pytest
import torch

from segvggt.segmentation.prompts import parse_prompts
from segvggt.segmentation.query_block import QueryBlock, prompt_isolation_mask

PROMPTS = [[[(0, 10.0, 20.0, True)], [(1, 5.0, 5.0, False), (2, 50.0, 60.0, True)]]]
TWO_SCENES = [PROMPTS[0], [[(2, 1.0, 1.0, True)]]]  # scene 1 has a padding prompt


@pytest.mark.parametrize("prompts_only", [False, True])
def test_cached_decode_equals_the_plain_decode(make_model, conv_fixture, prompts_only):
    model = make_model()
    images = conv_fixture["images"].repeat(2, 1, 1, 1, 1)
    images[1] = images[1].flip(-1)  # two different scenes: the cache is per scene
    with torch.no_grad():
        encoded = model.encode(images)
        plain = model.decode(encoded, TWO_SCENES, return_frame_mass=True, prompts_only=prompts_only)
        cache = model.object_query_cache(encoded, return_frame_mass=True)
        cached = model.decode(encoded, TWO_SCENES, return_frame_mass=True, prompts_only=prompts_only, cache=cache)
    assert plain.keys() == cached.keys()
    for key in ("pred_logits", "pred_masks", "prompt_masks", "prompt_scores", "frame_attention_mass"):
        if key in plain:
            torch.testing.assert_close(cached[key], plain[key], atol=1e-6, rtol=1e-6)
    assert torch.equal(cached["prompt_valid"], plain["prompt_valid"])
    assert torch.all(cached["prompt_masks"][1, 1] == 0)  # the padding prompt stays empty
    # Not a trivial equality: the two scenes' object queries differ.
    assert (cache.queries[0] - cache.queries[1]).abs().max() > 1e-3


def test_a_cached_click_runs_only_the_prompt_queries_through_the_blocks(make_model, conv_fixture):
    model = make_model()
    with torch.no_grad():
        encoded = model.encode(conv_fixture["images"])
        cache = model.object_query_cache(encoded)
    rows = []
    handles = [b.cross_q.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[1]))
               for b in model.query_blocks]  # fmt: skip
    with torch.no_grad():
        model.decode(encoded, PROMPTS, prompts_only=True, cache=cache)
        cached_rows = list(rows)
        rows.clear()
        model.decode(encoded, PROMPTS, prompts_only=True)
    for h in handles:
        h.remove()
    assert cached_rows == [2] * model.num_query_layers  # R = 2 prompt queries, not Q + R = 7
    assert rows == [7] * model.num_query_layers


def test_cached_click_costs_fewer_flops_and_operators(make_model, conv_fixture):
    from torch.utils.flop_counter import FlopCounterMode

    model = make_model(num_queries=40)
    with torch.no_grad():
        encoded = model.encode(conv_fixture["images"])
        cache = model.object_query_cache(encoded)
    flops = []
    for use_cache in (None, cache):
        with torch.enable_grad(), FlopCounterMode(display=False) as counter:
            model.decode(encoded, PROMPTS, prompts_only=True, cache=use_cache)
        flops.append(counter.get_total_flops())
    assert flops[1] < 0.25 * flops[0]  # 2 prompt queries instead of 42 queries through the blocks


def test_forward_prompts_equals_the_prompt_rows_of_the_joint_block():
    torch.manual_seed(0)
    block = QueryBlock(16, 24, 4).eval()
    Q, R, S = 5, 3, 2
    queries, kv = torch.randn(2, Q + R, 16), torch.randn(2, S * 6, 32)
    with torch.no_grad():
        joint, _ = block(queries, kv, S, prompt_isolation_mask(Q, R, queries.device))
        objects, _, object_kv = block.forward_objects(queries[:, :Q], kv, S)
        prompts = block.forward_prompts(queries[:, Q:], kv, object_kv, prompt_isolation_mask(Q, R, queries.device)[Q:])
    torch.testing.assert_close(objects, joint[:, :Q], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(prompts, joint[:, Q:], atol=1e-6, rtol=1e-6)


def test_refresh_of_all_layers_at_once_equals_one_layer_at_a_time(make_model, conv_fixture):
    model = make_model()
    with torch.no_grad():
        encoded = model.encode(conv_fixture["images"])
        clicks = parse_prompts(PROMPTS, 1, 3, (70, 56), torch.device("cpu"))
        encoder = model.prompt_encoder
        together = encoder.refresh_layers(encoded.token_kv, encoder.sampling(clicks, 3, (5, 4)), clicks)
        alone = torch.stack([encoder.refresh(kv, 3, (5, 4), clicks) for kv in encoded.token_kv])
    torch.testing.assert_close(together, alone, atol=1e-6, rtol=1e-6)


def test_a_cache_of_another_encoding_is_refused(make_model, conv_fixture):
    model = make_model()
    with torch.no_grad():
        encoded = model.encode(conv_fixture["images"])
        cache = model.object_query_cache(encoded)
        two = model.encode(conv_fixture["images"].repeat(2, 1, 1, 1, 1))
        with pytest.raises(ValueError, match="build it with object_query_cache"):
            model.decode(two, cache=cache)
        with pytest.raises(ValueError, match="return_frame_mass=True"):
            model.decode(encoded, return_frame_mass=True, cache=cache)
    assert cache.nbytes() == sum(k.numel() * 4 * 2 for k, _ in cache.self_kv) + cache.queries.numel() * 4
