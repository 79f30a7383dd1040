"""Shared by the command-line tools: YAML config files, `--set` overrides, one-line errors.

This is the only place in the project that parses config files. Every tool ends the same way on bad
input: one line `error: ...` on stderr naming the thing and what to do, exit status 2 (argparse
mistakes included), and Ctrl-C prints one line and exits with 130 (`tool_exit_code`).
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "configs"


class ToolError(Exception):
    """A user-facing problem; the tool prints the message and exits with status 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (no usage block), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parse_size(text: str) -> tuple[int, int]:
    """argparse type for `WxH` image sizes, e.g. `640x480` -> (640, 480)."""
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


def check_finite_numbers(data, key: str = "") -> None:
    """ToolError naming the dotted key of the first NaN / inf number in a parsed config (YAML reads
    `.nan`, `.inf` and `1e999` as floats; no setting of the project means anything with them)."""
    if isinstance(data, dict):
        for k, v in data.items():
            check_finite_numbers(v, f"{key}.{k}" if key else str(k))
    elif isinstance(data, (list, tuple)):
        for i, v in enumerate(data):
            check_finite_numbers(v, f"{key}[{i}]")
    elif isinstance(data, float) and not math.isfinite(data):
        raise ToolError(f"config key {key}: {data} is not a finite number; give a finite value")


def experiment_config(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()):
    """(ExperimentConfig, its plain dict) from a config name/path plus overrides."""
    from segvggt.config import ConfigError, experiment_from_dict, experiment_to_dict

    data = apply_overrides(load_config_dict(name_or_path), list(overrides))
    check_finite_numbers(data)
    data.setdefault("name", Path(name_or_path).stem)
    try:
        cfg = experiment_from_dict(data)
    except (ConfigError, ValueError) as err:
        raise ToolError(f"config {name_or_path}: {err}") from err
    return cfg, experiment_to_dict(cfg)


def one_line(text: str) -> str:
    """A message on one line (YAML and other readers put context on further lines)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


_USER_ERRORS = (
    ("segvggt.data.errors", "DataError"),
    ("segvggt.backbone.checkpoint", "CheckpointError"),
    ("segvggt.config_utils", "ConfigError"),
    ("segvggt.inference.errors", "InferenceError"),
)


def _user_errors() -> tuple[type[Exception], ...]:
    """The exception types whose message is meant for the user. Only modules already imported are asked:
    an error cannot be of a type whose module never loaded (and a tool that never needed torch should not
    import it just to print a line)."""
    found = [getattr(sys.modules[module], name) for module, name in _USER_ERRORS if module in sys.modules]
    return (ToolError, *found)


def tool_exit_code(main, argv: list[str] | None = None, interrupted: str = "interrupted") -> int:
    """Run `main(argv)` and return the exit status: its own (0 when None), 2 with one `error:` line for a
    user-facing problem or an unreadable / unwritable file, 130 with one line `interrupted` for Ctrl-C."""
    try:
        return main(argv) or 0
    except SystemExit as done:  # argparse: --help (0) or a bad command line (2, its one line already printed)
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - only the user-facing kinds are turned into a line
        if isinstance(err, OSError) and not isinstance(err, _user_errors()):
            where = f"{err.filename}: " if err.filename else ""
            print(one_line(f"error: {where}{err.strerror or err}"), file=sys.stderr)
            return 2
        if not isinstance(err, _user_errors()):
            raise
        print(one_line(f"error: {err}"), file=sys.stderr)
        return 2


def run_tool(main, interrupted: str = "interrupted") -> None:
    """`sys.exit(tool_exit_code(main))`: the `if __name__ == "__main__"` line of every tool."""
    sys.exit(tool_exit_code(main, None, interrupted))
