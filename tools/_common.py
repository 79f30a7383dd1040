"""Shared by the command-line tools: YAML config files, `--set` overrides, one-line errors.

This is the only place in the project that parses config files.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "configs"


class ToolError(Exception):
    """A user-facing problem; the tool prints the message and exits with status 2."""


def parse_size(text: str) -> tuple[int, int]:
    """argparse type for `WxH` image sizes, e.g. `640x480` -> (640, 480)."""
    import argparse

    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x480 (width x height), got {text!r}") from None
    if w < 8 or h < 8:
        raise argparse.ArgumentTypeError(f"size {text} is too small (at least 8x8)")
    return w, h


def resolve_config_path(name_or_path: str) -> Path:
    """`synthetic` -> configs/synthetic.yaml; a path is taken as is."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ToolError(f"config file {path} does not exist")
        return path
    path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise ToolError(f"no config named {name_or_path!r}; choose one of {', '.join(names)} or give a YAML path")
    return path


def _deep_merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config_dict(name_or_path: str) -> dict:
    """Read a YAML config; a top-level `base: other` key inherits from another config first."""
    path = resolve_config_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ToolError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ToolError(f"{path} must hold a mapping at the top level")
    base = data.pop("base", None)
    if base:
        data = _deep_merge(load_config_dict(str(path.parent / f"{base}.yaml") if "/" not in base else base), data)
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """`a.b=value` overrides; values are parsed as YAML (numbers, booleans, lists, null)."""
    out = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ToolError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ToolError(f"--set {item!r}: value is not valid YAML ({err})") from err
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ToolError(f"--set {item!r}: {part} is not a section")
        node[parts[-1]] = value
    return out


def experiment_config(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()):
    """(ExperimentConfig, its plain dict) from a config name/path plus overrides."""
    from segvggt.config import ConfigError, experiment_from_dict, experiment_to_dict

    data = apply_overrides(load_config_dict(name_or_path), list(overrides))
    data.setdefault("name", Path(name_or_path).stem)
    try:
        cfg = experiment_from_dict(data)
    except (ConfigError, ValueError) as err:
        raise ToolError(f"config {name_or_path}: {err}") from err
    return cfg, experiment_to_dict(cfg)


def run_tool(main) -> None:
    """Run `main()`; clear problems become one line on stderr and exit status 2."""
    from segvggt.backbone.checkpoint import CheckpointError
    from segvggt.config_utils import ConfigError
    from segvggt.data.errors import DataError

    try:
        code = main()
    except (ToolError, DataError, CheckpointError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
