"""Frame attention mass: chunked log-sum-exp equals the explicit softmax, rows sum to 1."""

import torch
from einops import rearrange

from segvggt.segmentation.frame_mass import frame_attention_mass
from segvggt.segmentation.query_block import QueryBlock


def explicit_mass(q, k, num_frames):
    probs = torch.softmax(torch.einsum("bhqd,bhtd->bhqt", q, k) * q.shape[-1] ** -0.5, dim=-1)
    return rearrange(probs, "b h q (s p) -> b h q s p", s=num_frames).sum(-1).mean(1)


def test_chunked_mass_equals_explicit_softmax_for_every_chunk_size():
    g = torch.Generator().manual_seed(0)
    B, heads, Q, S, P, d = 2, 3, 5, 7, 6, 8
    q = torch.randn(B, heads, Q, d, generator=g) * 2
    k = torch.randn(B, heads, S * P, d, generator=g) * 2
    expected = explicit_mass(q, k, S)
    for chunk in (1, 3, 7, 10):
        mass = frame_attention_mass(q, k, S, chunk)
        assert mass.shape == (B, Q, S)
        torch.testing.assert_close(mass, expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(mass.sum(-1), torch.ones(B, Q), atol=1e-5, rtol=0)


def test_mass_of_a_query_matching_one_view_has_the_hand_computed_value():
    # d=4 -> scale 1/2; query . key = 2 on both tokens of view 1, 0 elsewhere: mass = (e, 1, 1) / (e + 2).
    d, S, P = 4, 3, 2
    q = torch.tensor([[[[2.0, 0, 0, 0]]]])
    k = torch.zeros(1, 1, S * P, d)
    k[0, 0, P : 2 * P, 0] = 1.0
    k[0, 0, :P, 1] = 5.0
    k[0, 0, 2 * P :, 2] = 5.0
    e = torch.tensor(1.0).exp()
    torch.testing.assert_close(frame_attention_mass(q, k, S, 2)[0, 0], torch.stack([1 / (e + 2), e / (e + 2), 1 / (e + 2)]))


def test_uniform_scores_give_mass_proportional_to_tokens_per_view():
    q = torch.zeros(1, 2, 3, 4)
    k = torch.randn(1, 2, 4 * 5, 4)
    torch.testing.assert_close(frame_attention_mass(q, k, 4, 3), torch.full((1, 3, 4), 0.25))


def test_mass_gradients_match_the_explicit_softmax_gradients():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(1, 2, 3, 4, generator=g, requires_grad=True)
    k = torch.randn(1, 2, 5 * 3, 4, generator=g, requires_grad=True)
    w = torch.randn(1, 3, 5, generator=g)
    (frame_attention_mass(q, k, 5, 2) * w).sum().backward()
    gq, gk = q.grad.clone(), k.grad.clone()
    q.grad = k.grad = None
    (explicit_mass(q, k, 5) * w).sum().backward()
    torch.testing.assert_close(gq, q.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(gk, k.grad, atol=1e-5, rtol=1e-4)


def test_query_block_mass_equals_explicit_softmax_of_its_cross_attention():
    torch.manual_seed(0)
    block = QueryBlock(dim=16, token_dim=12, num_heads=4)
    queries, tokens = torch.randn(2, 6, 16), torch.randn(2, 3, 10, 12)
    kv_cache = block.token_kv(tokens)
    out, mass = block(queries, kv_cache, 3, mass_queries=4, mass_chunk=2)
    q = rearrange(block.cross_q(block.cross_norm(queries)), "b n (h d) -> b h n d", h=4)
    kv = block.cross_kv(block.token_norm(rearrange(tokens, "b s p c -> b (s p) c")))
    k = rearrange(kv[..., :16], "b t (h d) -> b h t d", h=4)
    torch.testing.assert_close(mass, explicit_mass(q, k, 3)[:, :4], atol=1e-5, rtol=0)
    out_no_mass, none = block(queries, kv_cache, 3)
    assert none is None and torch.equal(out, out_no_mass)
