"""ScanNet labels: the `scannetv2-labels.combined.tsv` label map and the official per-vertex GT
export rule (`export_train_mesh_for_evaluation.py`; details in segvggt.data.scannet's docstring).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from segvggt.data.classes import benchmark_classes
from segvggt.data.errors import DataError

LABEL_MAP_NAME = "scannetv2-labels.combined.tsv"


@dataclass(frozen=True)
class LabelMap:
    """`scannetv2-labels.combined.tsv`: raw_category -> nyu40id / id, and raw id -> nyu40id."""

    raw_to_nyu40: dict[str, int]
    raw_to_id: dict[str, int]
    id_to_nyu40: dict[int, int]

    def label_of(self, raw_category: str, benchmark: str) -> int:
        """Benchmark label id of a raw category (0 = unknown / not in the benchmark)."""
        if benchmark == "scannet":
            return self.raw_to_nyu40.get(raw_category, 0)
        valid = set(benchmark_classes("scannet200").label_ids)
        rid = self.raw_to_id.get(raw_category, 0)
        return rid if rid in valid else 0

    def raw_id_lut(self, benchmark: str, size: int = 65536) -> np.ndarray:
        """[size] int64 lookup from raw category id (2D label images) to benchmark label id."""
        lut = np.zeros(size, dtype=np.int64)
        if benchmark == "scannet":
            for k, v in self.id_to_nyu40.items():
                if 0 <= k < size:
                    lut[k] = v
        else:
            for k in benchmark_classes("scannet200").label_ids:
                if k < size:
                    lut[k] = k
        return lut


def _int(text: str | None) -> int:
    try:
        return int(float(text)) if text not in (None, "") else 0
    except ValueError:
        return 0


def read_label_map(path: str | Path) -> LabelMap:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing label map {path}; pass --label-map path/to/{LABEL_MAP_NAME}")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows or not {"id", "raw_category", "nyu40id"} <= set(rows[0]):
        raise DataError(f"{path} is not a ScanNet label map (needs tab-separated columns id, raw_category, nyu40id)")
    raw_to_nyu40, raw_to_id, id_to_nyu40 = {}, {}, {}
    for r in rows:
        raw_to_nyu40[r["raw_category"]] = _int(r["nyu40id"])  # later rows win, as util.read_label_mapping
        raw_to_id.setdefault(r["raw_category"], _int(r["id"]))  # first row wins, as the pandas .iloc[0]
        id_to_nyu40[_int(r["id"])] = _int(r["nyu40id"])
    return LabelMap(raw_to_nyu40, raw_to_id, id_to_nyu40)


def find_label_map(raw: Path) -> Path:
    for d in (raw, raw.parent, raw / "scans", raw / "meta", raw / "metadata"):
        if (d / LABEL_MAP_NAME).is_file():
            return d / LABEL_MAP_NAME
    raise DataError(f"no {LABEL_MAP_NAME} in {raw} or its parent; pass --label-map")


def export_point_gt(
    seg_indices: np.ndarray, seg_groups: list[dict], label_of: Callable[[str], int]
) -> tuple[np.ndarray, dict]:
    """Official per-vertex GT. seg_indices [M] -> ([M] int64 label*1000 + objectId+1, counts)."""
    seg_indices = np.asarray(seg_indices, dtype=np.int64)
    M = len(seg_indices)
    order = np.argsort(seg_indices, kind="stable")
    uniq, starts = np.unique(seg_indices[order], return_index=True)
    seg_to_verts = dict(zip(uniq.tolist(), np.split(order, starts[1:])))
    known = set(seg_to_verts)
    unknown_segments = len({int(x) for g in seg_groups for x in g.get("segments", [])} - known)

    def verts_of(segments) -> np.ndarray:
        parts = [seg_to_verts[int(x)] for x in segments if int(x) in known]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    label_segments: dict[str, list] = {}
    for g in seg_groups:
        label_segments.setdefault(g.get("label", ""), []).extend(g.get("segments", []))
    labels = np.zeros(M, dtype=np.int64)
    for label, segs in label_segments.items():
        labels[verts_of(segs)] = label_of(label)
    instances = np.zeros(M, dtype=np.int64)
    for g in seg_groups:
        obj = g.get("objectId", g.get("id"))
        if obj is None:
            raise DataError("a segGroup has neither objectId nor id; the aggregation file is malformed")
        instances[verts_of(g.get("segments", []))] = int(obj) + 1
    return labels * 1000 + instances, {"unknown_segments": unknown_segments}
