"""Tiny SegVGGT models on the conv parity-fixture backbone (6 aggregator layers, width 32)."""

from pathlib import Path

import pytest
import torch

from segvggt.segmentation.segvggt import build_segvggt

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY_OPTIONS = dict(num_queries=5, num_classes=3, query_dim=16, query_heads=4, mask_dim=8, lora_rank=0)


@pytest.fixture(scope="session")
def conv_fixture():
    return torch.load(FIXTURES / "vggt_parity_conv.pt")


@pytest.fixture(scope="session")
def dinov2_fixture():
    return torch.load(FIXTURES / "vggt_parity_dinov2.pt")


@pytest.fixture()
def make_model(conv_fixture):
    """make_model(**options) -> a tiny SegVGGT in eval mode, seeded (same weights for the same options)."""

    def make(**options):
        torch.manual_seed(0)
        return build_segvggt(conv_fixture["config"], **{**TINY_OPTIONS, **options}).eval()

    return make
