"""Training-mode behaviour: every trainable parameter gets a gradient; block checkpointing changes nothing."""

import torch

PROMPTS = [[[(0, 10.0, 20.0, True)], [(1, 5.0, 5.0, False), (2, 50.0, 60.0, True)]]]


def loss_and_grads(model, images):
    model.train()
    out = model(images, PROMPTS)
    assert "frame_attention_mass" in out  # training mode asks for it by default
    weights = torch.linspace(0, 1, out["frame_attention_mass"].numel()).view_as(out["frame_attention_mass"])
    loss = (
        out["pred_masks"].square().mean() + out["pred_logits"].square().mean()
        + (out["frame_attention_mass"] * weights).sum() + out["prompt_masks"].square().mean()
        + out["prompt_scores"].square().mean() + out["depth"].mean() + out["world_points"].mean()
        + sum(p.square().mean() for p in out["pose_enc_list"])
    )
    loss.backward()
    return {n: p.grad for n, p in model.named_parameters() if p.requires_grad}


def test_every_trainable_parameter_receives_a_gradient(make_model, conv_fixture):
    grads = loss_and_grads(make_model(), conv_fixture["images"])
    missing = [n for n, g in grads.items() if g is None or not torch.any(g != 0)]
    assert not missing, missing


def test_checkpointed_query_blocks_give_the_same_gradients(make_model, conv_fixture):
    plain = loss_and_grads(make_model(), conv_fixture["images"])
    checkpointed = loss_and_grads(make_model(checkpoint_blocks=True), conv_fixture["images"])
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], atol=1e-6, rtol=1e-5, msg=name)
