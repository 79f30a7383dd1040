"""Submission I/O: round trips, the RLE format, and one clear error per malformed input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segvggt.data.errors import DataError
from segvggt.evaluation.submission import (
    evaluate_submission,
    read_excluded_vertices,
    read_gt,
    read_submission,
    rle_decode,
    rle_encode,
    write_submission,
)

M = 300


def _preds(rng, n=3):
    masks = rng.random((n, M)) < 0.4
    return masks, np.array([5, 3, 39][:n]), np.array([0.873, 1 / 3, 0.1][:n])


@pytest.mark.parametrize("rle", [False, True])
def test_write_then_read_round_trip(tmp_path, rle):
    masks, labels, scores = _preds(np.random.default_rng(0))
    txt = write_submission(tmp_path, "scene0707_00", masks, labels, scores, rle=rle)
    ext = "json" if rle else "txt"
    first = txt.read_text().splitlines()[0]
    assert first == f"pred_mask/scene0707_00_000.{ext} 5 0.873"
    got = read_submission(tmp_path, "scene0707_00", M)
    np.testing.assert_array_equal(got.masks, masks)
    np.testing.assert_array_equal(got.labels, labels)
    np.testing.assert_array_equal(got.scores, scores)  # repr() keeps floats exact
    assert not list(tmp_path.rglob("*.tmp"))


def test_text_mask_file_is_one_digit_per_line(tmp_path):
    masks = np.zeros((1, 4), bool)
    masks[0, [1, 2]] = True
    write_submission(tmp_path, "s", masks, [3], [0.5])
    assert (tmp_path / "pred_mask/s_000.txt").read_text() == "0\n1\n1\n0\n"


def test_rle_known_value_and_round_trip():
    assert rle_encode(np.array([0, 1, 1, 0, 1], bool)) == {"length": 5, "counts": "2 2 5 1"}
    rng = np.random.default_rng(1)
    for mask in [np.zeros(7, bool), np.ones(7, bool), rng.random(1000) < 0.3, np.zeros(0, bool)]:
        np.testing.assert_array_equal(rle_decode(rle_encode(mask)), mask)


def test_reader_accepts_official_variants(tmp_path):
    (tmp_path / "pred_mask").mkdir()
    (tmp_path / "pred_mask/a.txt").write_text("\n".join(["0", "2", "-1"] + ["0"] * (M - 3)))  # no final \n
    (tmp_path / "s.txt").write_text("pred_mask/a.txt 5.0 1e-1\n")  # label int(float(x))
    got = read_submission(tmp_path, "s", M)
    assert got.labels.tolist() == [5] and got.scores.tolist() == [0.1]
    assert got.masks[0, :3].tolist() == [False, True, True]  # non-zero = inside
    (tmp_path / "empty.txt").write_bytes(b"")  # 0-byte file: valid, no predictions
    assert read_submission(tmp_path, "empty", M).masks.shape == (0, M)


def _bad(tmp_path, scene_txt: str, mask_text: str | None = None):
    (tmp_path / "pred_mask").mkdir(exist_ok=True)
    (tmp_path / "pred_mask/a.txt").write_text(mask_text if mask_text is not None else "1\n" * M)
    (tmp_path / "s.txt").write_text(scene_txt)
    return lambda: read_submission(tmp_path, "s", M)


@pytest.mark.parametrize(
    "scene_txt, mask_text, message",
    [
        ("pred_mask/a.txt 5\n", None, r"s\.txt:1: expected '<relative mask path>"),
        ("pred_mask/a.txt  5 0.5\n", None, r"s\.txt:1: expected"),  # double space
        ("pred_mask/a.txt 5 0.5 x\n", None, r"s\.txt:1: expected"),
        ("pred_mask/a.txt chair 0.5\n", None, r"s\.txt:1: label id 'chair' is not a number"),
        ("pred_mask/a.txt 5 high\n", None, r"s\.txt:1: confidence 'high' is not a number"),
        ("pred_mask/a.txt 5 nan\n", None, r"s\.txt:1: confidence is NaN"),
        ("pred_mask/b.txt 5 0.5\n", None, r"s\.txt:1: mask file .*b\.txt does not exist"),
        ("pred_mask/a.txt 5 0.5\n", "1\n" * (M - 1), r"a\.txt .*has 299 values .* 300 points"),
        ("pred_mask/a.txt 5 0.5\n", "1\n" * 5 + "x\n", r"a\.txt:6: expected one integer"),
        ("pred_mask/a.txt 5 0.5\n", "1\n\n" + "1\n" * (M - 1), r"a\.txt:2: expected one integer"),
        ("\n", None, r"s\.txt:1: expected"),  # a lone newline is a blank line
        ("pred_mask/a.txt 5 0.5\n\n", None, r"s\.txt:2: expected"),  # trailing blank line
        ("/abs/a.txt 5 0.5\n", None, r"s\.txt:1: mask path '/abs/a.txt' must be relative"),
        ("../a.txt 5 0.5\n", None, r"s\.txt:1: .* points outside the prediction folder"),
        ("pred_mask/a.txt 5 0.5\npred_mask/./a.txt 3 0.4\n", None, r"s\.txt:2: .*already listed on line 1"),
        ("pred_mask/a.txt 5 0.5\n", '{"length": 299, "counts": "1 5"}', r"299 values"),
        ("pred_mask/a.txt 5 0.5\n", '{"length": 300, "counts": "0 5"}', r"RLE run outside"),
        ("pred_mask/a.txt 5 0.5\n", '{"length": 300, "counts": "1"}', r"odd count"),
        ("pred_mask/a.txt 5 0.5\n", '{"length": 300', r"not valid RLE JSON"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, scene_txt, mask_text, message):
    with pytest.raises(DataError, match=message):
        _bad(tmp_path, scene_txt, mask_text)()


def test_missing_prediction_file(tmp_path):
    with pytest.raises(DataError, match=r"s\.txt does not exist"):
        read_submission(tmp_path, "s", M)


def test_read_gt_and_errors(tmp_path):
    (tmp_path / "g.txt").write_text("0\n3001\n-5\n")
    assert read_gt(tmp_path / "g.txt").tolist() == [0, 3001, -5]
    (tmp_path / "bad.txt").write_text("0\n3001.5\n")
    with pytest.raises(DataError, match=r"bad\.txt:2"):
        read_gt(tmp_path / "bad.txt")
    with pytest.raises(DataError, match="does not exist"):
        read_gt(tmp_path / "none.txt")
    (tmp_path / "ex.txt").write_text("4 7\n9\n")
    assert read_excluded_vertices(tmp_path / "ex.txt").tolist() == [4, 7, 9]


def _folder_case(tmp_path, scenes=("s1", "s2"), predicted=("s1", "s2")):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir(parents=True)
    pred_dir.mkdir(parents=True)
    gt = np.zeros(M, np.int64)
    gt[:150] = 3001
    for s in scenes:
        (gt_dir / f"{s}.txt").write_text("".join(f"{v}\n" for v in gt))
    for s in predicted:
        write_submission(pred_dir, s, (gt == 3001)[None], [3], [0.9])
    return gt_dir, pred_dir


def test_folder_evaluation_and_missing_scenes(tmp_path):
    gt_dir, pred_dir = _folder_case(tmp_path)
    assert evaluate_submission(gt_dir, pred_dir, "scannet").ap == 1.0

    gt_dir, pred_dir = _folder_case(tmp_path / "b", predicted=("s1",))
    with pytest.raises(DataError, match=r"1 GT scene\(s\) have no prediction file .*: s2"):
        evaluate_submission(gt_dir, pred_dir, "scannet")
    r = evaluate_submission(gt_dir, pred_dir, "scannet", missing_as_empty=True)
    assert r.ap == 0.5 and r.num_scenes == 2  # s2's object counts as a miss

    gt_dir, pred_dir = _folder_case(tmp_path / "c", scenes=("s1",), predicted=("s1",))
    write_submission(pred_dir, "s9", np.zeros((0, M), bool), [], [])
    with pytest.raises(DataError, match=r"have no GT file .*: s9"):
        evaluate_submission(gt_dir, pred_dir, "scannet")


def test_folder_evaluation_with_excluded_vertices(tmp_path):
    gt_dir, pred_dir = _folder_case(tmp_path, scenes=("s1",), predicted=())
    mask = np.zeros(M, bool)
    mask[:250] = True  # IoU 150 / 250 = .6 unless vertices 150..249 are excluded
    write_submission(pred_dir, "s1", mask[None], [3], [0.9], rle=True)
    (tmp_path / "s1_mask.txt").write_text("\n".join(map(str, range(150, 250))))
    plain = evaluate_submission(gt_dir, pred_dir, "scannet")
    cut = evaluate_submission(gt_dir, pred_dir, "scannet", excluded_pattern=str(tmp_path / "{scene}_mask.txt"))
    assert plain.ap50 == 1.0 and plain.ap < 1.0 and cut.ap == 1.0
    json.dumps(cut.ap)
