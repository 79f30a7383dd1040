"""Rules every entry point applies to the paths and numbers a user passes in.

- Paths are compared by their real location (`os.path.realpath`: symlinks and `..` resolved), so a link
  or a relative spelling cannot hide that an output is an input.
- An output must be creatable: its nearest existing ancestor must be a folder in which a temporary folder
  can be made and removed again (a probe, since `os.access` says yes to root on read-only mounts and says
  nothing useful about /proc or /sys). This runs before any work, so a bad path costs no compute and
  leaves nothing behind.
- An output may never be, hold or replace an input (`check_not_an_input`), and a folder that a tool fills
  with its own files must be new, empty or one of its own kind (`check_fillable_folder`).
- Numbers read from a user are finite (`check_finite`).

Every failure is a `DataError` whose message names the path and says what to do instead.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from segvggt.data.errors import DataError


def real(path: str | Path) -> Path:
    """The absolute path with every symlink and `..` resolved (the path need not exist)."""
    return Path(os.path.realpath(os.path.abspath(path)))


def is_within(path: str | Path, folder: str | Path) -> bool:
    """True when `path` is `folder` or lies below it (both resolved)."""
    p, f = real(path), real(folder)
    return p == f or f in p.parents


def check_finite(name: str, value: float) -> float:
    """`value` as a float; DataError naming `name` for NaN, inf or a non-number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise DataError(f"{name} must be a finite number, got {value!r}")
    return number


def nearest_existing(path: str | Path) -> Path:
    """`path` itself or its closest ancestor that exists (absolute, not resolved)."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def probe_writable(folder: str | Path, what: str) -> None:
    """DataError unless a temporary folder can be created (and is removed again) inside `folder`."""
    folder = Path(folder)
    try:
        probe = tempfile.mkdtemp(prefix=".segvggt-write-test-", dir=folder)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise DataError(f"{what}: cannot write in {folder} ({reason}); choose a folder you can write to") from None
    os.rmdir(probe)


def check_creatable(folder: str | Path, what: str) -> None:
    """Files can be written in `folder`: it, or its nearest existing ancestor, is a writable folder."""
    ancestor = nearest_existing(folder)
    if not ancestor.is_dir():
        raise DataError(f"{what}: {ancestor} is a file, not a folder; choose another path")
    probe_writable(ancestor, what)


def check_really_inside(path: str | Path, folder: str | Path, folder_name: str, what: str) -> None:
    """DataError when `path` really lies outside `folder` (a symlink leading out of it), or is something other
    than a regular file or folder (a pipe or device would block or flood the reader). Checked before the
    file is opened, so nothing of a refused file is read (or quoted)."""
    target = real(path)
    if not is_within(target, folder):
        raise DataError(f"{what} is a link leading outside the {folder_name} {folder}; refused - copy the file into it")
    if target.exists() and not (target.is_file() or target.is_dir()):
        raise DataError(f"{what} is not a regular file; refused")


def check_not_an_input(path: str | Path, what: str, inputs: Iterable[tuple[str, str | Path]]) -> None:
    """DataError when `path` is, holds or lies inside one of the `inputs` ((description, path) pairs).

    The output would be written over the input, replace a folder that holds it, or mix into it.
    """
    for label, item in inputs:
        if item is None:
            continue
        if is_within(item, path):
            where = "is" if real(item) == real(path) else "holds"
            raise DataError(f"{what} {path} {where} the {label} {item}; choose an output path outside the inputs")
        if Path(item).is_dir() and is_within(path, item):
            raise DataError(f"{what} {path} lies inside the {label} {item}; choose an output path outside it")


def check_output_file(path: str | Path, what: str, inputs: Iterable[tuple[str, str | Path]] = ()) -> Path:
    """An output FILE the tool will (re)write: not a folder, not an input, in a writable place."""
    path = Path(path)
    if str(path).endswith(os.sep) or path.is_dir():
        raise DataError(f"{what} {path} is a folder; give a file name, e.g. {path / 'results.json'}")
    check_not_an_input(path, what, inputs)
    check_creatable(path.parent, f"{what} {path}")
    return path


def check_fillable_folder(folder: str | Path, what: str, own_kind: Callable[[Path], bool], kind: str) -> Path:
    """An output FOLDER a tool fills with its own files: new, empty, or `own_kind` (e.g. a prepared dataset).

    Refuses a file, a folder of other things (the tool would mix its files into the user's) and a place
    that cannot be written.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{what} {folder} is a file, not a folder; choose a folder")
    if folder.is_dir() and any(folder.iterdir()) and not own_kind(folder):
        raise DataError(
            f"{what} {folder} already holds other files and is not {kind}; choose a new or empty folder"
        )
    check_creatable(folder, f"{what} {folder}")
    return folder


def looks_prepared(folder: Path) -> bool:
    """A prepared-scene root (or a partial one a killed run left): splits/, gt_instance/ or a scene.json."""
    if (folder / "splits").is_dir() or (folder / "gt_instance").is_dir():
        return True
    return any((child / "scene.json").is_file() for child in folder.iterdir() if child.is_dir())
