"""Shared fixtures of the backbone tests: the official parity files and the models built from them."""

from __future__ import annotations

import pytest
import torch
from helpers import FIXTURES


@pytest.fixture(scope="session", params=["conv", "dinov2"])
def parity(request):
    return torch.load(FIXTURES / f"vggt_parity_{request.param}.pt")


@pytest.fixture(scope="session")
def conv_fixture():
    return torch.load(FIXTURES / "vggt_parity_conv.pt")

