"""The ScanNet++ benchmark mapping (map_benchmark.csv) and the toolkit's per-vertex GT rule."""

import numpy as np
import pytest

from segvggt.data.classes import benchmark_classes
from segvggt.data.errors import DataError
from segvggt.data.scannetpp_labels import group_labels, read_benchmark_mapping, scannetpp_point_gt


def _csv(tmp_path, text: str):
    path = tmp_path / "map_benchmark.csv"
    path.write_text(text)
    return read_benchmark_mapping(path)


def test_toolkit_gt_rule():
    seg = np.array([0, 0, 1, 1, 1, 2, 3])
    groups = [{"label": "table", "segments": [3]},            # index 0: dropped by the toolkit quirk
              {"label": "chair", "segments": [0, 1]},         # 5 vertices
              {"label": "office chair", "segments": [1]},     # 3 vertices: smaller, wins on segment 1
              {"label": "wall", "segments": [2]},             # not an instance class
              {"label": "unknown thing", "segments": [0]}]    # not in top-100: ignored  # fmt: skip
    np.testing.assert_array_equal(scannetpp_point_gt(seg, groups), [9001, 9001, 11002, 11002, 11002, 0, 0])


def test_toolkit_gt_rule_with_mapping(tmp_path):
    mapping = _csv(tmp_path, "class,count,semantic_map_to,instance_map_to\n"
                             "chair,10,,\noffice chair,5,,\nworking table,3,table,table\nbin,2,None,None\n")  # fmt: skip
    seg = np.array([0, 0, 1, 1, 2, 3, 4])
    groups = [{"label": "chair", "segments": [4]},             # index 0: the quirk
              {"label": "working table", "segments": [0]},     # -> table (3)
              {"label": "chair", "segments": [1, 2]},          # 3 vertices
              {"label": "box", "segments": [1]},               # in the top-100, but no csv row: dropped
              {"label": "office chair", "segments": [2, 3]},   # 2 vertices: wins on segment 2
              {"label": "bin", "segments": [3]}]               # mapped to None: dropped  # fmt: skip
    np.testing.assert_array_equal(scannetpp_point_gt(seg, groups, mapping), [3001, 3001, 9002, 9002, 11004, 11004, 0])
    labels = group_labels(groups, mapping)
    assert labels.mapped == 1 and labels.outside == {"box": 1, "bin": 1}
    # the same annotation without the csv: raw labels looked up directly
    np.testing.assert_array_equal(scannetpp_point_gt(seg, groups), [0, 0, 15003, 15003, 11004, 11004, 0])


def test_mapping_rows_like_the_toolkit(tmp_path):
    m = _csv(tmp_path, "\ufeffsemantic_map_to,class,count\n"  # BOM, other column order
             "book,books,7\n"           # x -> y
             ",chair,9\n"               # blank: x -> x
             "None,rubbish,4\n"         # None: dropped
             "table,desk,\n"            # missing count: row filtered out (count >= 0)
             "table,sideboard,-1\n"     # negative count: filtered out
             ",stand,3\nshelf,stand,3\n"  # blank then mapped: the later mapping wins
             "rack,crate,2\n,crate,2\n"   # mapped then blank: stays mapped
             "NA,NA,5\n"                  # a missing class name matches nothing
             "\"table, round\",\"round, table\",1\n"  # quoted commas
             "\n")  # fmt: skip
    assert m.rows == 9
    assert m.label_of == {"books": "book", "chair": "chair", "stand": "shelf", "crate": "rack", "round, table": "table, round"}
    assert m.map("rubbish") is None and m.map("desk") is None and m.map("sideboard") is None and m.map("NA") is None


def test_mapping_without_count_keeps_every_row(tmp_path):
    m = _csv(tmp_path, "class,semantic_map_to\nbooks,book\nchair,\n")
    assert m.label_of == {"books": "book", "chair": "chair"}


@pytest.mark.parametrize("text,match", [
    ("class,count,instance_map_to\nchair,3,\n", "has no column semantic_map_to"),
    ("", "has no column class, semantic_map_to"),
    ("class,count,semantic_map_to\nchair,many,\n", "line 2: count 'many' is not a number"),
])  # fmt: skip
def test_bad_mapping_csv_is_one_clear_error(tmp_path, text, match):
    with pytest.raises(DataError, match=match):
        _csv(tmp_path, text)
    with pytest.raises(DataError, match="missing label mapping"):
        read_benchmark_mapping(tmp_path / "absent.csv")


def _toolkit_reference(seg, groups, label_of):
    """A line-by-line transcription of MapLabelToIndex + GetLabelsOnVertices (single label, with instances)
    + prepare_semantic_gt's inst_gt format, with np.isin as the toolkit calls it."""
    classes = benchmark_classes("scannetpp")
    mapping = {n: i for i, n in enumerate(classes.label_names)}
    ignore = -100
    seg = np.array(seg, dtype=np.uint32)
    n = len(seg)
    multilabels = np.ones((n, 3), dtype=np.int16) * ignore
    labels_used = np.zeros(n, dtype=np.int16)
    instance_size = np.ones((n, 3), dtype=np.int16) * np.inf
    instance_multilabels = np.ones((n, 3), dtype=np.int16) * ignore
    for instance_ndx, instance in enumerate(groups):
        label = label_of.get(instance["label"], None)
        label_ndx = mapping.get(label, ignore)
        if label_ndx == ignore:
            continue
        inst_mask = np.isin(seg, instance["segments"]) & (labels_used < 3)
        num_vertices = inst_mask.sum()
        if num_vertices == 0:
            continue
        new_label_position = labels_used[inst_mask]
        multilabels[inst_mask, new_label_position] = label_ndx
        if label in classes.instance_names:
            instance_multilabels[inst_mask, new_label_position] = instance_ndx
        instance_size[inst_mask, new_label_position] = num_vertices
        labels_used[inst_mask] += 1
    labels = multilabels[:, 0]
    has_multilabel = labels_used > 1
    smallest = np.argmin(instance_size[has_multilabel], axis=1)
    labels[has_multilabel] = multilabels[has_multilabel, smallest]
    instance_labels = instance_multilabels[:, 0]
    instance_labels[has_multilabel] = instance_multilabels[has_multilabel, smallest]
    sem, inst = labels.astype(np.int32), instance_labels.astype(np.int32)
    out = sem * 1000 + inst
    out[inst <= 0] = 0
    return out


def test_gt_rule_equals_the_toolkit_transcription_on_random_overlapping_groups(tmp_path):
    rng = np.random.default_rng(0)
    raw = ["chair", "office chair", "table", "work table", "wall", "box", "books", "lamp", "sofa", "rubbish"]
    mapping = _csv(tmp_path, "class,count,semantic_map_to\nchair,1,\noffice chair,1,\ntable,1,\nwork table,1,table\n"
                             "wall,1,\nbooks,1,book\nlamp,1,table lamp\nsofa,1,\nrubbish,1,None\n")  # fmt: skip
    for trial in range(20):
        seg = rng.integers(0, 60, size=400) * 7 + 3  # sparse ids, some never used
        groups = [{"label": str(rng.choice(raw)), "segments": rng.choice(500, size=int(rng.integers(0, 25))).tolist()}
                  for _ in range(int(rng.integers(1, 40)))]  # fmt: skip
        expected = _toolkit_reference(seg, groups, mapping.label_of)
        np.testing.assert_array_equal(scannetpp_point_gt(seg, groups, mapping), expected, err_msg=f"trial {trial}")
        assert (expected > 0).any() or trial > 0
