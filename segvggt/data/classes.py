"""Class tables of the instance benchmarks, and the one mapping between benchmark label ids
(what files on disk and submissions carry) and the contiguous indices the model predicts.

Data: `scannet_classes.json` (ScanNet v2, ScanNet200, ScanNet++ lists) shipped in this package,
plus the synthetic benchmark defined here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

BENCHMARKS = ("scannet", "scannet200", "scannetpp", "synthetic")

# Synthetic rooms: wall and floor are not instances, like ScanNet's wall/floor.
SYNTHETIC_NAMES = (
    "wall", "floor", "table", "chair", "bed", "sofa", "cabinet",
    "bookshelf", "desk", "lamp", "box", "plant",
)  # fmt: skip
SYNTHETIC_IDS = tuple(range(1, len(SYNTHETIC_NAMES) + 1))


@dataclass(frozen=True)
class BenchmarkClasses:
    """Label ids and names of one benchmark.

    `instance_ids` are the evaluated instance classes in benchmark label ids; model class index
    k in [0, K) stands for `instance_ids[k]`, and index K is "no object".
    """

    name: str
    label_ids: tuple[int, ...]  # every semantic label id of the benchmark
    label_names: tuple[str, ...]
    instance_ids: tuple[int, ...]
    instance_names: tuple[str, ...]
    subsets: tuple[tuple[str, tuple[int, ...]], ...] = ()  # e.g. ScanNet200 head/common/tail

    @property
    def num_classes(self) -> int:
        return len(self.instance_ids)

    def index_of(self, label_ids: np.ndarray) -> np.ndarray:
        """Benchmark label ids -> contiguous class index; -1 where not an instance class."""
        label_ids = np.asarray(label_ids, dtype=np.int64)
        lut_size = max(max(self.label_ids), max(self.instance_ids)) + 1
        lut = np.full(lut_size, -1, dtype=np.int64)
        lut[list(self.instance_ids)] = np.arange(self.num_classes)
        out = np.full(label_ids.shape, -1, dtype=np.int64)
        ok = (label_ids >= 0) & (label_ids < lut_size)
        out[ok] = lut[label_ids[ok]]
        return out

    def label_of(self, index: np.ndarray) -> np.ndarray:
        """Contiguous class index in [0, K) -> benchmark label id."""
        return np.asarray(self.instance_ids, dtype=np.int64)[np.asarray(index, dtype=np.int64)]

    def name_of_label(self, label_id: int) -> str:
        return dict(zip(self.label_ids, self.label_names)).get(int(label_id), f"label_{label_id}")


@lru_cache(maxsize=1)
def _raw_tables() -> dict:
    text = resources.files("segvggt.data").joinpath("scannet_classes.json").read_text()
    return json.loads(text)


def benchmark_classes(name: str) -> BenchmarkClasses:
    """The class table of `name` in BENCHMARKS."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    if name == "synthetic":
        return BenchmarkClasses(
            name, SYNTHETIC_IDS, SYNTHETIC_NAMES, SYNTHETIC_IDS[2:], SYNTHETIC_NAMES[2:]
        )
    raw = _raw_tables()
    if name == "scannet":
        t = raw["scannet20"]
        return BenchmarkClasses(
            name, tuple(t["semantic_ids"]), tuple(t["semantic_names"]),
            tuple(t["instance_ids"]), tuple(t["instance_names"]),
        )  # fmt: skip
    if name == "scannet200":
        t = raw["scannet200"]
        subsets = tuple((s, tuple(t[f"{s}_ids"])) for s in ("head", "common", "tail"))
        return BenchmarkClasses(
            name, tuple(t["ids"]), tuple(t["names"]),
            tuple(t["instance_ids"]), tuple(t["instance_names"]), subsets,
        )  # fmt: skip
    t = raw["scannetpp"]
    names = tuple(t["semantic_names_top100"])
    return BenchmarkClasses(
        name, tuple(range(len(names))), names, tuple(t["instance_ids"]), tuple(t["instance_names"])
    )
