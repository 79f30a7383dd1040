"""freeze_backbone: "frozen" is the paper's frozen-backbone ablation (Table 7): no VGGT weight and no LoRA trains."""

from segvggt.segmentation.config import ModelConfig
from segvggt.segmentation.trainable import is_new_parameter, should_train


def test_frozen_turns_lora_off_in_the_config():
    assert ModelConfig(freeze_backbone="frozen", lora_rank=32).lora_rank == 0
    assert ModelConfig(freeze_backbone="all", lora_rank=32).lora_rank == 32  # "all" keeps LoRA training


def test_frozen_rule_by_name():
    lora = "vggt.aggregator.frame_blocks.0.attn.qkv.lora_A.default.weight"
    head = "vggt.camera_head.trunk.0.attn.qkv.weight"
    new = "query_blocks.0.attn.in_proj_weight"
    assert should_train(lora, True, "all") and not should_train(lora, True, "frozen")
    assert not should_train(head, True, "frozen") and should_train(new, True, "frozen")


def test_frozen_model_trains_only_the_new_modules(make_model):
    model = make_model(lora_rank=4, freeze_backbone="frozen")
    names = [n for n, _ in model.named_parameters()]
    assert not any(".lora_" in n for n in names)  # no adapters were built
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(is_new_parameter(n) and not n.startswith("vggt.") for n in trainable)
    assert all(not p.requires_grad for n, p in model.named_parameters() if n.startswith("vggt."))
