"""ScanNet++ benchmark labels: `map_benchmark.csv` and the per-vertex GT rule of the official toolkit.

Label mapping (toolkit `semantic/transforms/mesh.py` MapLabelToIndex with `mapping_file`, and
`semantic/prep/map_semantic.py`; issues #75, #109): the csv (`RAW/metadata/semantic_benchmark/
map_benchmark.csv`, columns `class`, `count`, `semantic_map_to`, ...) is read with pandas' default
missing-value strings; rows with a missing or negative `count` are dropped (`count >= 0`, the
toolkit's `count_thresh` of 0). Then, row by row: a blank target keeps the class (`x -> x`, unless
an earlier row already mapped it), the string `None` drops it (the toolkit's code and comment:
"map to None -> don't use this class"; pandas >= 2 would read it as blank), any other target maps
it (`x -> y`, later rows win). Every segGroup label is looked up in that dict; **a label without a
row is dropped** (the toolkit's `label_mapping.get(label, None)`).
The mapped label is then looked up in the top-100 list (and in the 84 instance classes). Without
the csv, raw labels are looked up directly.

Per-vertex GT (`GetLabelsOnVertices` + `prepare_semantic_gt.py`): walking segGroups in order, a
vertex collects at most 3 (label, instance) entries and keeps the entry of the smallest group
(vertices it added, first on ties); the instance id is the group's *index* in segGroups, kept only
for instance classes; GT = label * 1000 + instance, 0 where the instance id is <= 0 (so the first
segGroup never appears: the toolkit's quirk, reproduced).
"""

from __future__ import annotations

import csv
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segvggt.data.classes import benchmark_classes
from segvggt.data.errors import DataError

MAPPING_FILE = Path("metadata") / "semantic_benchmark" / "map_benchmark.csv"
REQUIRED_COLUMNS = ("class", "semantic_map_to")
DROP_TARGET = "None"
# pandas.read_csv's default missing-value strings (pandas >= 2; the toolkit reads the csv with pandas)
NA_STRINGS = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                        "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null"})  # fmt: skip
IGNORE = -100
MAX_LABELS_PER_VERTEX = 3


@dataclass(frozen=True)
class BenchmarkMapping:
    """raw annotation label -> benchmark label, as the toolkit builds it from map_benchmark.csv."""

    path: Path
    rows: int  # rows kept after the count filter
    label_of: dict[str, str] = field(repr=False)

    def map(self, raw: str) -> str | None:
        """The benchmark label of a raw label; None = the toolkit drops it."""
        return self.label_of.get(raw)


def _count_kept(text: str, path: Path, line: int) -> bool:
    if text in NA_STRINGS:
        return False
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path} line {line}: count {text!r} is not a number; "
                        "use the csv of the ScanNet++ release") from None
    return not math.isnan(value) and value >= 0


def read_benchmark_mapping(path: str | Path) -> BenchmarkMapping:
    """Read map_benchmark.csv; a missing file or column is one DataError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing label mapping {path}; "
                        "pass the ScanNet++ metadata/semantic_benchmark/map_benchmark.csv")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            table = [row for row in csv.reader(f) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"unreadable label mapping {path} ({err})") from err
    header = table[0] if table else []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path} has no column {', '.join(missing)} (header: {','.join(header) or 'empty'}); "
                        "use the map_benchmark.csv of the ScanNet++ release")  # fmt: skip
    col = {name: header.index(name) for name in header[::-1]}  # first occurrence wins, like pandas
    cell = lambda row, name: row[col[name]] if col[name] < len(row) else ""  # noqa: E731  short rows: missing cells
    label_of: dict[str, str] = OrderedDict()
    rows = 0
    for line, row in enumerate(table[1:], start=2):
        if "count" in col and not _count_kept(cell(row, "count"), path, line):
            continue
        rows += 1
        name, target = cell(row, "class"), cell(row, "semantic_map_to")
        if name in NA_STRINGS or name == DROP_TARGET:  # pandas reads these as NaN: no label can match the row
            continue
        if target in NA_STRINGS:
            label_of.setdefault(name, name)
        elif target != DROP_TARGET:
            label_of[name] = target
    return BenchmarkMapping(path, rows, dict(label_of))


@dataclass(frozen=True)
class GroupLabels:
    """Per segGroup: label index in the top-100 list (IGNORE = outside), instance-class flag, and what
    the mapping did."""

    label_index: np.ndarray  # [G] int64
    is_instance: np.ndarray  # [G] bool
    mapped: int  # groups whose label the csv changed
    outside: dict[str, int]  # raw label -> groups left outside the benchmark


def group_labels(seg_groups: list[dict], mapping: BenchmarkMapping | None) -> GroupLabels:
    classes = benchmark_classes("scannetpp")
    index_of = {n: i for i, n in enumerate(classes.label_names)}
    instance_names = set(classes.instance_names)
    G = len(seg_groups)
    label_index, is_instance = np.full(G, IGNORE, np.int64), np.zeros(G, bool)
    mapped, outside = 0, {}
    for k, g in enumerate(seg_groups):
        raw = g.get("label")
        label = raw if mapping is None else mapping.map(raw)
        mapped += int(label is not None and label != raw)
        if label not in index_of:
            outside[str(raw)] = outside.get(str(raw), 0) + 1
            continue
        label_index[k] = index_of[label]
        is_instance[k] = label in instance_names
    return GroupLabels(label_index, is_instance, mapped, outside)


def _vertices_by_segment(seg: np.ndarray):
    """-> function(segments) -> [n] vertex indices whose segment id is listed (like np.isin, but via an index)."""
    order = np.argsort(seg, kind="stable")
    ids, start, count = np.unique(seg[order], return_index=True, return_counts=True)

    def vertices(segments) -> np.ndarray:
        s = np.unique(np.asarray(segments, dtype=np.int64).reshape(-1))
        if not len(ids) or not len(s):
            return np.zeros(0, np.int64)
        pos = np.minimum(np.searchsorted(ids, s), len(ids) - 1)
        hit = pos[ids[pos] == s]
        n = count[hit]
        offsets = np.repeat(start[hit] - np.cumsum(n) + n, n) + np.arange(n.sum())
        return order[offsets]

    return vertices


def scannetpp_point_gt(seg_indices: np.ndarray, seg_groups: list[dict], mapping: BenchmarkMapping | None = None,
                       labels: GroupLabels | None = None) -> np.ndarray:  # fmt: skip
    """Toolkit GT per vertex: seg_indices [M] -> [M] int64 label_index * 1000 + instance (0 = none)."""
    labels = labels or group_labels(seg_groups, mapping)
    seg = np.asarray(seg_indices, dtype=np.int64)
    M = len(seg)
    lab = np.full((M, MAX_LABELS_PER_VERTEX), IGNORE, np.int64)
    inst = np.full((M, MAX_LABELS_PER_VERTEX), IGNORE, np.int64)
    size = np.full((M, MAX_LABELS_PER_VERTEX), np.inf)
    used = np.zeros(M, np.int64)
    vertices_of = _vertices_by_segment(seg)
    for ndx, g in enumerate(seg_groups):
        if labels.label_index[ndx] == IGNORE:
            continue
        v = vertices_of(g.get("segments", []))
        v = v[used[v] < MAX_LABELS_PER_VERTEX]
        if not len(v):
            continue
        pos = used[v]
        lab[v, pos] = labels.label_index[ndx]
        if labels.is_instance[ndx]:
            inst[v, pos] = ndx
        size[v, pos] = len(v)
        used[v] += 1
    pick = np.argmin(size, axis=1)  # first entry for single-label vertices (the rest are inf)
    rows = np.arange(M)
    gt = lab[rows, pick] * 1000 + inst[rows, pick]
    gt[inst[rows, pick] <= 0] = 0
    return gt


def check_class_lists(meta_dir: str | Path) -> None:
    """If the release's top100.txt / top100_instance.txt are in `meta_dir`, they must be the lists this
    project was built for (label indices are positions in top100.txt); else one DataError."""
    classes = benchmark_classes("scannetpp")
    for name, expected, ordered in (("top100.txt", classes.label_names, True),
                                    ("top100_instance.txt", classes.instance_names, False)):  # fmt: skip
        path = Path(meta_dir) / name
        if not path.is_file():
            continue
        found = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        same = found == list(expected) if ordered else set(found) == set(expected)
        if not same:
            extra = sorted(set(found) - set(expected))[:3]
            lacking = sorted(set(expected) - set(found))[:3]
            raise DataError(f"{path} is not the ScanNet++ top-100 list this project was built for "
                            f"({len(found)} names; not expected: {extra}, missing: {lacking}, or another order)")  # fmt: skip
