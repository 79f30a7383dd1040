"""Fast submission reading: same values as the general (official-style) parsers, same clear errors,
and the whole folder path equal to the official-style file-reading reference."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_scannet_eval import (  # noqa: E402
    load_ids,
    random_scene,
    reference_evaluate,
    reference_evaluate_folder,
)

from segvggt.data.errors import DataError  # noqa: E402
from segvggt.evaluation.submission import (  # noqa: E402
    _parse_digit_lines,
    evaluate_submission,
    read_gt,
    read_submission,
    write_submission,
)


@pytest.mark.parametrize(
    "data, fast",
    [
        (b"3001\n0\n39012\n", [3001, 0, 39012]),
        (b"12\n7", [12, 7]),  # no final newline
        (b"007\n0\n", [7, 0]),  # leading zeros, as int()
        (b"999999999999999999\n", [999999999999999999]),  # 18 digits: still the fast path
        (b"", []),
        (b"-1\n5\n", None),  # sign: general parser
        (b"3001\r\n0\r\n", None),  # CRLF: general parser
        (b"9999999999999999999\n", None),  # 19 digits may overflow: general parser
        (b"1\n\n2\n", None),  # blank line: general parser (which rejects it)
        (b"\n", None),
    ],
)
def test_digit_fast_path_matches_official_load_ids(tmp_path, data, fast):
    got = _parse_digit_lines(data)
    if fast is None:
        assert got is None
    else:
        np.testing.assert_array_equal(got, np.array(fast, np.int64))
    path = tmp_path / "scene.txt"
    path.write_bytes(data)
    try:
        want = load_ids(path)  # the official util_3d.load_ids way
    except (ValueError, OverflowError):
        with pytest.raises(DataError, match=r"scene\.txt:\d+: (expected one integer|.* 64-bit integer)"):
            read_gt(path)
        return
    got = read_gt(path)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


def test_gt_blank_line_error_names_file_and_line(tmp_path):
    (tmp_path / "g.txt").write_text("3001\n\n5\n")
    with pytest.raises(DataError, match=r"g\.txt:2: expected one integer per line, got a blank line"):
        read_gt(tmp_path / "g.txt")


def _mask_case(tmp_path, mask_text: str, num_points: int = 4):
    (tmp_path / "pred_mask").mkdir(exist_ok=True)
    (tmp_path / "pred_mask/a.txt").write_text(mask_text)
    (tmp_path / "s.txt").write_text("pred_mask/a.txt 5 0.5\n")
    return read_submission(tmp_path, "s", num_points).masks[0].tolist()


@pytest.mark.parametrize(
    "text, want",
    [
        ("1\n0\n0\n1\n", [True, False, False, True]),  # fast path
        ("2\n0\n0\n1\n", [True, False, False, True]),  # 2M bytes but not 0/1: general parser
        ("0\n1\n1\n0", [False, True, True, False]),  # no final newline: general parser
        ("1\r\n0\r\n0\r\n0\r\n", [True, False, False, False]),
        ("-1\n0\n0\n1\n", [True, False, False, True]),
    ],
)
def test_mask_fast_path_and_fallback_agree(tmp_path, text, want):
    assert _mask_case(tmp_path, text) == want


@pytest.mark.parametrize(
    "text, error",
    [
        ("0\n1\nx\n0\n", r"a\.txt:3: expected one integer per line, got text that is not an integer"),  # 2M bytes; never quoted
        ("0\n1\n0\n0\n1\n", r"a\.txt \(.*s\.txt:1\): mask has 5 values but the GT scene has 4"),
        ("0\n1\n0\n", r"mask has 3 values"),
    ],
)
def test_mask_errors_name_file_and_line(tmp_path, text, error):
    with pytest.raises(DataError, match=error):
        _mask_case(tmp_path, text)


def test_directory_in_place_of_a_mask_is_reported_missing(tmp_path):
    (tmp_path / "pred_mask/a.txt").mkdir(parents=True)
    (tmp_path / "s.txt").write_text("pred_mask/a.txt 5 0.5\n")
    with pytest.raises(DataError, match=r"s\.txt:1: mask file .*a\.txt does not exist"):
        read_submission(tmp_path, "s", 4)


def test_folder_path_equals_official_style_file_reference(tmp_path):
    rng = np.random.default_rng(3)
    class_ids = [3, 4, 5, 7]
    scenes = [random_scene(rng, class_ids, num_gt=10, num_pred=16)[:4] for _ in range(3)]
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    for i, (gt, masks, labels, scores) in enumerate(scenes):
        (gt_dir / f"scene{i}.txt").write_text("".join(f"{v}\n" for v in gt.tolist()))  # has -1 ids
        write_submission(pred_dir, f"scene{i}", masks, labels, scores)
    ref_folder, _ = reference_evaluate_folder(gt_dir, pred_dir, class_ids)
    ref_memory, _ = reference_evaluate(scenes, class_ids)
    ours = evaluate_submission(gt_dir, pred_dir, class_ids).ap_table
    np.testing.assert_array_equal(np.isnan(ref_folder), np.isnan(ref_memory))
    np.testing.assert_allclose(ref_folder, ref_memory, rtol=0, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(ours, ref_folder, rtol=0, atol=1e-9, equal_nan=True)
    assert np.any((ref_folder > 0) & (ref_folder < 1))  # a non-trivial case
