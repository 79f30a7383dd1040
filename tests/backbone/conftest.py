"""Shared fixtures of the backbone tests: the official parity files and the models built from them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from segvggt.backbone import build_vggt

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session", params=["conv", "dinov2"])
def parity(request):
    return torch.load(FIXTURES / f"vggt_parity_{request.param}.pt")


@pytest.fixture(scope="session")
def conv_fixture():
    return torch.load(FIXTURES / "vggt_parity_conv.pt")


def model_from(fixture, **options):
    model = build_vggt(fixture["config"], **options)
    model.load_state_dict(fixture["state_dict"], strict=True)
    return model.eval()
