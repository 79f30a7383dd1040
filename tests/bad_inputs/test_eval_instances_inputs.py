"""tools/eval_instances.py on hostile or broken submissions: links out of the folder are refused unread, no
file contents are quoted, odd numbers are refused, out-of-benchmark labels are counted in one warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from bad_input_helpers import call, one_error_line, snapshot, tool

from helpers import REPO, TOOLS

from segvggt.evaluation.submission import evaluate_submission, write_submission

M = 400
SECRET = "root:x:0:0:secret-first-line"
SCENE = "scene0000_00"


@pytest.fixture()
def case(tmp_path):
    """GT of 2 objects (cabinet 3, bed 4) and a submission that finds both; a 'secret' file outside it."""
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    gt = np.zeros(M, np.int64)
    gt[:200], gt[200:] = 3001, 4001
    (gt_dir / f"{SCENE}.txt").write_text("".join(f"{v}\n" for v in gt))
    write_submission(pred_dir, SCENE, np.stack([gt == 3001, gt == 4001]), [3, 4], [0.9, 0.8])
    (tmp_path / "secret.txt").write_text(SECRET + "\n" + "1\n" * (M - 1))
    return gt_dir, pred_dir, tmp_path / "secret.txt"


def _run(capsys, gt_dir, pred_dir, *extra):
    return call(tool("eval_instances"), ["--gt", gt_dir, "--pred", pred_dir, "--benchmark", "scannet", "--quiet",
                                         *extra], capsys)  # fmt: skip


def test_mask_symlink_leaving_the_folder_is_refused_unread(case, capsys):
    gt_dir, pred_dir, secret = case
    mask = pred_dir / "pred_mask" / f"{SCENE}_000.txt"
    mask.unlink()
    mask.symlink_to(secret)
    before = snapshot(pred_dir)
    code, out, err = _run(capsys, gt_dir, pred_dir)
    assert code == 2
    one_error_line(err, f"{SCENE}.txt:1: mask file", "is a link leading outside the prediction folder")
    assert "root:x" not in err + out and snapshot(pred_dir) == before


def test_scene_file_symlink_leaving_the_folder_is_refused(case, capsys):
    gt_dir, pred_dir, secret = case
    (pred_dir / f"{SCENE}.txt").unlink()
    (pred_dir / f"{SCENE}.txt").symlink_to(secret)
    code, out, err = _run(capsys, gt_dir, pred_dir)
    assert code == 2
    one_error_line(err, f"prediction file {pred_dir / SCENE}.txt is a link leading outside")
    assert "root:x" not in err + out


def test_links_inside_the_folder_and_a_linked_folder_are_fine(case, capsys, tmp_path):
    gt_dir, pred_dir, _ = case
    mask = pred_dir / "pred_mask" / f"{SCENE}_001.txt"
    mask.rename(pred_dir / "pred_mask" / "bed.txt")
    mask.symlink_to("bed.txt")  # a relative link that stays inside
    linked = tmp_path / "linked_pred"
    linked.symlink_to(pred_dir)
    code, out, err = _run(capsys, gt_dir, linked)
    assert code == 0 and err.strip() == "", err
    assert evaluate_submission(gt_dir, linked, "scannet").ap == 1.0


def test_gt_files_may_be_links_to_the_dataset(case, capsys, tmp_path):
    gt_dir, pred_dir, _ = case
    store = tmp_path / "dataset_gt"
    store.mkdir()
    (gt_dir / f"{SCENE}.txt").rename(store / f"{SCENE}.txt")
    (gt_dir / f"{SCENE}.txt").symlink_to(store / f"{SCENE}.txt")  # GT is the evaluator's own data: followed
    code, _, err = _run(capsys, gt_dir, pred_dir)
    assert code == 0 and err.strip() == ""


def test_unparsable_mask_is_described_not_quoted(case, capsys):
    gt_dir, pred_dir, _ = case
    (pred_dir / "pred_mask" / f"{SCENE}_000.txt").write_text("1\n" * 10 + "password=hunter2\n" + "1\n" * (M - 11))
    code, _, err = _run(capsys, gt_dir, pred_dir)
    assert code == 2
    one_error_line(err, f"{SCENE}_000.txt:11: expected one integer per line, got text that is not an integer")
    assert "hunter2" not in err


@pytest.mark.parametrize(
    "line, fragment",
    [
        (f"pred_mask/{SCENE}_000.txt 1e30 0.9", "label id '1e30' is out of range"),
        (f"pred_mask/{SCENE}_000.txt inf 0.9", "label id 'inf' is not a number"),
        (f"pred_mask/{SCENE}_000.txt 3 inf", "confidence is infinite"),
        (f"pred_mask/{SCENE}_000.txt 3 nan", "confidence is NaN"),
        (f"pred_mask/{SCENE}_000.txt 3 0.9 " + "x" * 500, "got 4 field(s)"),
    ],
    ids=["label_1e30", "label_inf", "confidence_inf", "confidence_nan", "long_line"],
)
def test_non_finite_or_huge_numbers_are_refused(case, capsys, line, fragment):
    gt_dir, pred_dir, _ = case
    (pred_dir / f"{SCENE}.txt").write_text(line + "\n")
    code, _, err = _run(capsys, gt_dir, pred_dir)
    assert code == 2
    assert len(one_error_line(err, f"{SCENE}.txt:1: ", fragment)) < 300  # no line of the file is echoed


def test_a_pipe_in_place_of_a_mask_is_refused_without_blocking(case, capsys):
    gt_dir, pred_dir, _ = case
    mask = pred_dir / "pred_mask" / f"{SCENE}_000.txt"
    mask.unlink()
    os.mkfifo(mask)
    code, _, err = _run(capsys, gt_dir, pred_dir)
    assert code == 2
    one_error_line(err, "is not a regular file; refused")


def test_labels_outside_the_benchmark_keep_the_official_number_and_warn_once(case):
    gt_dir, pred_dir, _ = case
    official = evaluate_submission(gt_dir, pred_dir, "scannet").ap  # both objects found: 1.0
    masks = pred_dir / "pred_mask"
    for k, src in ((2, 0), (3, 1)):  # two more predictions (copies of the masks) with labels no class has
        (masks / f"{SCENE}_{k:03d}.txt").write_bytes((masks / f"{SCENE}_{src:03d}.txt").read_bytes())
    extra = f"pred_mask/{SCENE}_002.txt 999 0.7\npred_mask/{SCENE}_003.txt 1 0.6\n"  # 1 = wall: not an instance class
    (pred_dir / f"{SCENE}.txt").write_text((pred_dir / f"{SCENE}.txt").read_text() + extra)
    out_json = pred_dir.parent / "res.json"
    proc = subprocess.run(  # the stream matters here: the warning line as a user sees it
        [sys.executable, str(TOOLS / "eval_instances.py"), "--gt", str(gt_dir), "--pred", str(pred_dir),
         "--benchmark", "scannet", "--quiet", "--json", str(out_json)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    warnings = [line for line in err.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING: 2 predicted instance(s) in 1 scene(s)"), err
    assert "not evaluated classes of scannet (e.g. 1, 999)" in warnings[0]
    assert json.loads(out_json.read_text())["ap"] == official == 1.0


@pytest.mark.parametrize("where", ["proc", "pred", "gt", "folder"])
def test_json_output_in_a_bad_place_is_refused_before_evaluating(case, capsys, where, monkeypatch):
    from segvggt.evaluation import submission

    gt_dir, pred_dir, _ = case
    target = {"proc": "/proc/res.json", "pred": pred_dir / "res.json", "gt": gt_dir / f"{SCENE}.txt",
              "folder": pred_dir.parent}[where]  # fmt: skip
    monkeypatch.setattr(submission, "read_submission", lambda *a, **k: pytest.fail("evaluated"))
    before = snapshot(pred_dir.parent)
    code, _, err = _run(capsys, gt_dir, pred_dir, "--json", target)
    assert code == 2
    fragment = {"proc": "cannot write in /proc", "pred": "lies inside the prediction folder", "gt": "lies inside the GT",
                "folder": "is a folder; give a file name"}[where]  # fmt: skip
    one_error_line(err, f"--json {target}", fragment)
    assert snapshot(pred_dir.parent) == before
