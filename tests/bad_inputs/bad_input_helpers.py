"""Helpers of the bad-input tests: the one-line check, folder snapshots, odd files (bombs, pipes, pickles)."""

from __future__ import annotations

import os
import pickle
import struct
import zlib
from pathlib import Path

from helpers import tools_on_path


def one_error_line(err: str, *fragments: str) -> str:
    """The single non-empty stderr line (an `error:` line without traceback) that holds every fragment."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    line = lines[0]
    assert line.startswith("error: ") and "Traceback" not in err, line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry below `folder` -> its bytes (files), link target (symlinks) or 'dir' / 'other'."""
    out: dict[str, object] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = "dir"
            elif path.is_file():
                out[rel] = path.read_bytes()
            else:
                out[rel] = "other"
    return out


def hidden_leftovers(folder: Path) -> list[str]:
    """Temporary names a tool would leave next to its output (.NAME.partial-PID, .NAME.old-PID, probes)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def tool(name: str):
    """The `main` of tools/<name>.py, imported in-process."""
    tools_on_path()
    import importlib

    return importlib.import_module(name).main


def call(main, argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of a tool's main run in-process, as `python tools/X.py ARGV` would end."""
    from _common import tool_exit_code

    code = tool_exit_code(main, [str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def decompression_bomb_png(path: Path, side: int = 30000) -> Path:
    """A 100-byte PNG whose header claims side x side pixels (900 M): Pillow refuses it on open."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


class RunsCode:
    """Unpickling this would create `marker` (a stand-in for any code a foreign pickle could run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def code_pickle(path: Path, marker: Path, torch_format: bool) -> Path:
    """A 'checkpoint' that runs code when loaded without weights_only: torch.save'd or a plain pickle."""
    payload = {"state_dict": {"w": RunsCode(marker)}, "hyper_parameters": {}, "global_step": 1}
    if torch_format:
        import torch

        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=4))
    return path
