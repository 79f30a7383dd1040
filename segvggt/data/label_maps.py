"""Label maps between benchmarks, for zero-shot evaluation (a model trained on one benchmark, scored
on another; the SegVGGT paper's Table 2 evaluates a ScanNet200 model on ScanNet++).

The map is built from the two instance-class lists of `segvggt.data.classes`:
1. every source class whose name is also a target class name maps to it;
2. plus `SYNONYMS`: source names that denote the same object category under another target name
   (written by hand, conservative: different-but-related categories such as "fire alarm" vs
   "smoke detector" or "file cabinet" vs "storage cabinet" are NOT mapped).
Several source classes may map to one target class (e.g. "plant" and "potted plant" -> "plant").

Unmatched classes, as the evaluation uses them (`SceneEvaluator`):
- a prediction whose source class has no target class takes part in class-agnostic AP only;
- a target class that no source class reaches is left out of class-aware AP (its ground truth is
  then void, like any non-evaluated label of the official script); class-aware AP averages over the
  reached target classes only, which `LabelMap.reached_names` lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segvggt.data.classes import BenchmarkClasses, benchmark_classes

# (source benchmark, target benchmark) -> {source class name: target class name}
SYNONYMS: dict[tuple[str, str], dict[str, str]] = {
    ("scannet200", "scannetpp"): {
        "couch": "sofa",
        "shoe": "shoes",
        "radiator": "heater",
        "ceiling light": "ceiling lamp",
        "power outlet": "socket",
        # ScanNet's lamps are mostly desk / bedside lamps; ScanNet++ splits off ceiling lamps
        "lamp": "table lamp",
        "paper towel roll": "paper towel",
        "coffee kettle": "kettle",
        "potted plant": "plant",
        "trash bin": "trash can",
        "water bottle": "bottle",
    },
}


@dataclass(frozen=True)
class LabelMap:
    """Source instance label id -> target instance label id (benchmark label ids, not class indices)."""

    source: BenchmarkClasses
    target: BenchmarkClasses
    mapping: dict[int, int]

    @property
    def reached_ids(self) -> tuple[int, ...]:
        """Target instance label ids some source class maps to, in the target's class order."""
        reached = set(self.mapping.values())
        return tuple(i for i in self.target.instance_ids if i in reached)

    @property
    def reached_names(self) -> tuple[str, ...]:
        names = dict(zip(self.target.instance_ids, self.target.instance_names))
        return tuple(names[i] for i in self.reached_ids)

    @property
    def unreached_names(self) -> tuple[str, ...]:
        reached = set(self.reached_ids)
        return tuple(n for i, n in zip(self.target.instance_ids, self.target.instance_names) if i not in reached)

    @property
    def unmapped_source_names(self) -> tuple[str, ...]:
        pairs = zip(self.source.instance_ids, self.source.instance_names)
        return tuple(n for i, n in pairs if i not in self.mapping)

    def restricted_target(self) -> BenchmarkClasses:
        """The target benchmark evaluated over the reached classes only (class-aware zero-shot AP)."""
        from dataclasses import replace

        return replace(self.target, instance_ids=self.reached_ids, instance_names=self.reached_names, subsets=())

    def apply(self, labels: np.ndarray) -> np.ndarray:
        """[I] source label ids -> [I] target label ids, -1 where the source class has no target."""
        labels = np.asarray(labels, dtype=np.int64)
        mapped = [self.mapping.get(int(x), -1) for x in labels.reshape(-1)]
        return np.array(mapped, dtype=np.int64).reshape(labels.shape)


def label_map(source: str, target: str) -> LabelMap:
    """The source -> target map of two benchmarks (module docstring for the rules)."""
    src, tgt = benchmark_classes(source), benchmark_classes(target)
    target_id = dict(zip(tgt.instance_names, tgt.instance_ids))
    synonyms = SYNONYMS.get((source, target), {})
    mapping = {}
    for sid, name in zip(src.instance_ids, src.instance_names):
        name = synonyms.get(name, name)
        if name in target_id:
            mapping[int(sid)] = int(target_id[name])
    return LabelMap(src, tgt, mapping)
