"""ScanNet200 -> ScanNet++ label map: built from the two class lists plus a short synonym table."""

import numpy as np

from segvggt.data.classes import benchmark_classes
from segvggt.data.label_maps import SYNONYMS, label_map


def _id(benchmark, name):
    c = benchmark_classes(benchmark)
    return c.instance_ids[c.instance_names.index(name)]


def test_exact_names_and_synonyms_map():
    m = label_map("scannet200", "scannetpp")
    assert m.mapping[_id("scannet200", "chair")] == _id("scannetpp", "chair")
    assert m.mapping[_id("scannet200", "office chair")] == _id("scannetpp", "office chair")
    assert m.mapping[_id("scannet200", "couch")] == _id("scannetpp", "sofa")  # synonym
    assert m.mapping[_id("scannet200", "potted plant")] == m.mapping[_id("scannet200", "plant")]  # many -> one
    assert _id("scannet200", "guitar") not in m.mapping  # no ScanNet++ counterpart


def test_counts_and_unreached_classes():
    m = label_map("scannet200", "scannetpp")
    # 56 ScanNet++ classes share a name with a ScanNet200 class; the synonyms reach 8 more
    assert len(m.reached_ids) == 64 and len(m.unreached_names) == 84 - 64
    assert "sofa" in m.reached_names and "slippers" in m.unreached_names and "marker" in m.unreached_names
    assert len(m.mapping) == 56 + len(SYNONYMS[("scannet200", "scannetpp")])
    restricted = m.restricted_target()
    assert restricted.instance_ids == m.reached_ids and restricted.num_classes == 64


def test_synonyms_name_real_classes():
    for (source, target), table in SYNONYMS.items():
        src, tgt = benchmark_classes(source), benchmark_classes(target)
        for a, b in table.items():
            assert a in src.instance_names and b in tgt.instance_names
            assert a not in tgt.instance_names  # a synonym never overrides an exact name match


def test_apply_marks_unmapped_labels():
    m = label_map("scannet200", "scannetpp")
    labels = np.array([_id("scannet200", "table"), _id("scannet200", "guitar")])
    assert m.apply(labels).tolist() == [_id("scannetpp", "table"), -1]
