"""SegVGGT's per-block predictions for deep supervision: one set per query block but the last, and the
final outputs are the same with or without them."""

from __future__ import annotations

import torch


def test_aux_outputs_one_per_block_but_the_last_and_final_unchanged(make_model, conv_fixture):
    model = make_model()
    images = conv_fixture["images"]
    with torch.no_grad():
        plain = model(images, return_frame_mass=False)
        deep = model(images, return_frame_mass=False, aux_outputs=True)
    assert len(model.query_blocks) > 1 and len(deep["aux_outputs"]) == len(model.query_blocks) - 1
    assert torch.equal(plain["pred_logits"], deep["pred_logits"]) and torch.equal(plain["pred_masks"], deep["pred_masks"])
    for aux in deep["aux_outputs"]:
        assert set(aux) == {"pred_logits", "pred_masks"}
        assert aux["pred_logits"].shape == plain["pred_logits"].shape
        assert aux["pred_masks"].shape == plain["pred_masks"].shape
    assert not torch.equal(deep["aux_outputs"][-1]["pred_logits"], plain["pred_logits"])
