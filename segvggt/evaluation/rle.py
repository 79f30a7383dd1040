"""ScanNet++'s run-length encoding of per-vertex masks: `{"length": M, "counts": "s1 n1 s2 n2 ..."}`
with 1-based run starts and run lengths."""

from __future__ import annotations

from typing import Any

import numpy as np

from segvggt.data.errors import DataError


def rle_encode(mask: np.ndarray) -> dict:
    """[M] bool -> ScanNet++ RLE `{"length": M, "counts": "start length ..."}` (1-based starts)."""
    mask = np.asarray(mask, bool).reshape(-1)
    change = np.flatnonzero(np.diff(np.concatenate([[False], mask, [False]]).astype(np.int8)))
    starts, ends = change[0::2], change[1::2]
    runs = np.stack([starts + 1, ends - starts], axis=1).reshape(-1)
    return {"length": int(len(mask)), "counts": " ".join(map(str, runs.tolist()))}


def rle_decode(rle: Any, where: str = "RLE mask") -> np.ndarray:
    """ScanNet++ RLE dict -> [M] bool; malformed input raises DataError naming `where`."""
    if not isinstance(rle, dict) or not isinstance(rle.get("length"), int) or not isinstance(
        rle.get("counts"), str
    ):
        raise DataError(f"{where}: expected RLE JSON {{\"length\": int, \"counts\": \"s1 n1 ...\"}}")
    length = rle["length"]
    try:
        runs = np.asarray([int(x) for x in rle["counts"].split()], np.int64)
    except (ValueError, OverflowError):
        raise DataError(f"{where}: RLE counts must be integers") from None
    if len(runs) % 2:
        raise DataError(f"{where}: RLE counts must be start/length pairs, got an odd count")
    starts, lengths = runs[0::2] - 1, runs[1::2]
    if len(runs) and (starts.min() < 0 or lengths.min() < 0 or (starts + lengths).max() > length):
        raise DataError(f"{where}: RLE run outside [1, {length}] (starts are 1-based)")
    delta = np.bincount(starts, minlength=length + 1) - np.bincount(starts + lengths, minlength=length + 1)
    return np.cumsum(delta[:length]) > 0
