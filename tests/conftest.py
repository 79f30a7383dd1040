"""Shared fixtures: the tiny config and a tiny synthetic dataset generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import tools_on_path


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory) -> Path:
    """configs/tiny.yaml's synthetic data (4 train + 2 val scenes, 56x42, 4 frames), made once."""
    tools_on_path()
    from _common import experiment_config

    from segvggt.data.datamodule import ensure_synthetic

    root = tmp_path_factory.mktemp("tiny_synthetic")
    cfg, _ = experiment_config("tiny", [f"data.root={root}"])
    ensure_synthetic(cfg.data, progress=False)
    return root


@pytest.fixture
def tiny_config(tiny_data_root):
    """Factory: (ExperimentConfig, dict) of configs/tiny.yaml on the session's tiny data, plus overrides."""
    tools_on_path()
    from _common import experiment_config

    def make(*overrides: str):
        return experiment_config("tiny", [f"data.root={tiny_data_root}", *overrides])

    return make
