"""The output folder of tools/infer.py: which folders it may write or replace, and the atomic publish.

Rules (checked before the model is loaded, so a refused folder costs nothing and nothing is written):
- OUT may not be, hold or lie inside an input: the photo folder, any photo (a symlinked photo counts
  where it really lives) or the checkpoint; nor may it be the current folder or one above it.
- An existing OUT is replaced only with `overwrite`, and only when this tool wrote it: it holds the
  manifest `segvggt-manifest.json` (written last, listing every file of the run) and no file that the
  manifest does not list. A folder of the user's files is therefore never deleted, even with --overwrite.
- OUT's parent must be a folder that can be written (a probe: /proc, /sys, read-only mounts fail here).
Publishing renames the complete temporary folder to OUT; Ctrl-C is held off during the two renames, so
OUT is always either the old results or the new ones.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from segvggt.data.errors import DataError
from segvggt.validation import check_not_an_input, probe_writable, real

MANIFEST = "segvggt-manifest.json"
WRITTEN_BY = "segvggt tools/infer.py"


def check_out(out: Path, images: Path, photos: Sequence[Path], checkpoint: Path, overwrite: bool) -> None:
    """Raise DataError (one line naming the folder and what to do) unless `out` may be (re)written."""
    out = Path(out)
    inputs = [("photo folder", images), ("checkpoint", checkpoint)]
    inputs += [("photo", p) for p in photos]
    check_not_an_input(out, "--out", inputs)
    if real(out) in (real(Path.cwd()), *real(Path.cwd()).parents):
        raise DataError(f"--out {out} is the current folder or one above it; give a new folder for the results")
    if out.is_symlink():
        raise DataError(f"--out {out} is a symbolic link; give the real folder (or a new one)")
    if out.exists():
        if not overwrite:
            raise DataError(f"{out} already exists; choose another --out folder or pass --overwrite")
        if not out.is_dir():
            raise DataError(f"{out} exists and is not a folder; choose another --out")
        _check_replaceable(out)
    parent = out.parent
    if parent.exists() and not parent.is_dir():
        raise DataError(f"--out {out}: {parent} is a file, not a folder; choose another --out")
    if not parent.is_dir():
        raise DataError(f"{parent}: parent folder of --out does not exist; create it first")
    probe_writable(parent, f"--out {out}")


def _check_replaceable(out: Path) -> None:
    listed = read_manifest(out)
    if listed is None:
        raise DataError(
            f"--overwrite: {out} was not written by tools/infer.py (it has no valid {MANIFEST}); it is never "
            "replaced - choose a new --out folder"
        )
    extra = sorted(rel for rel in _files(out) if rel not in listed and rel != MANIFEST)
    if extra:
        raise DataError(
            f"--overwrite: {out} holds {len(extra)} file(s) that tools/infer.py did not write (e.g. {extra[0]}); "
            "move them out of the folder or choose a new --out"
        )


def _files(folder: Path) -> list[str]:
    """Every entry of `folder` that is not a folder (files, links, ...), as '/'-separated relative paths."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        out += [(rel_root / name).as_posix() for name in files]
        out += [(rel_root / name).as_posix() for name in dirs if (Path(root) / name).is_symlink()]
    return out


def read_manifest(folder: Path) -> set[str] | None:
    """The files listed in `folder`'s manifest, or None when there is no valid manifest of this tool."""
    path = folder / MANIFEST
    if not path.is_file() or path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("written_by") != WRITTEN_BY or not isinstance(data.get("files"), list):
        return None
    return {str(f) for f in data["files"]}


def write_manifest(folder: Path) -> None:
    """List every file of the finished run folder (called last, just before publishing)."""
    files = sorted(f for f in _files(folder) if f != MANIFEST)
    text = json.dumps({"written_by": WRITTEN_BY, "format_version": 1, "files": files}, indent=1)
    (folder / MANIFEST).write_text(text + "\n", encoding="utf-8")


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) that arrives inside the block and raise it at the end (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def publish(tmp: Path, out: Path) -> None:
    """Rename the finished folder `tmp` to `out`; an existing `out` is replaced only after the new one is whole."""
    write_manifest(tmp)
    with interrupts_deferred():
        if not out.exists():
            tmp.rename(out)
            return
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        try:
            tmp.rename(out)
        except BaseException:
            old.rename(out)  # put the previous results back
            raise
    shutil.rmtree(old, ignore_errors=True)
