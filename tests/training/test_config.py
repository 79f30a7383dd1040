"""Config files: every shipped config builds; overrides, inheritance and errors name the key."""

from __future__ import annotations

import pytest

from helpers import REPO, tools_on_path

tools_on_path()
from _common import ToolError, apply_overrides, experiment_config  # noqa: E402

from segvggt.config import ConfigError, experiment_from_dict, experiment_to_dict  # noqa: E402


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "configs").glob("*.yaml")))
def test_every_shipped_config_builds(name):
    cfg, data = experiment_config(name)
    assert cfg.name == name
    # the saved resolved config rebuilds the same experiment (what --resume relies on)
    assert experiment_from_dict(data) == cfg


def test_overrides_parse_yaml_values():
    out = apply_overrides({"a": {"b": 1}}, ["a.b=2.5", "a.c=[1, 2]", "d=null", "e.f=true"])
    assert out == {"a": {"b": 2.5, "c": [1, 2]}, "d": None, "e": {"f": True}}


def test_tiny_inherits_synthetic_and_overrides_win():
    tiny, _ = experiment_config("tiny", ["optim.lr_new=0.5"])
    synthetic, _ = experiment_config("synthetic")
    assert tiny.optim.lr_new == 0.5
    assert tiny.loss == synthetic.loss  # inherited untouched
    assert tiny.model.num_queries != synthetic.model.num_queries


def test_unknown_key_names_the_dotted_path():
    with pytest.raises(ToolError, match="model.num_querys"):
        experiment_config("tiny", ["model.num_querys=3"])


def test_wrong_type_and_bad_values_are_clear():
    with pytest.raises(ToolError, match="trainer.max_steps"):
        experiment_config("tiny", ["trainer.max_steps=lots"])
    with pytest.raises(ToolError, match="num_classes"):
        experiment_config("tiny", ["model.num_classes=3"])
    with pytest.raises(ToolError, match="no config named"):
        experiment_config("no_such_config")


def test_teacher_needs_a_checkpoint():
    cfg, data = experiment_config("tiny")
    data["geometry_supervision"] = "teacher"
    with pytest.raises(ConfigError, match="pretrained"):
        experiment_from_dict(data)


def test_round_trip_is_plain_data():
    cfg, _ = experiment_config("tiny")
    plain = experiment_to_dict(cfg)
    assert isinstance(plain["data"]["aspect_range"], list)
    assert experiment_from_dict(plain) == cfg
