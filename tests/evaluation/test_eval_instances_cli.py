"""tools/eval_instances.py end to end on files the test writes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from segvggt.evaluation.submission import write_submission

ROOT = Path(__file__).resolve().parents[2]
M = 400


def _cli():
    if str(ROOT / "tools") not in sys.path:  # as when the script runs: its folder comes first
        sys.path.insert(0, str(ROOT / "tools"))
    spec = importlib.util.spec_from_file_location("eval_instances", ROOT / "tools/eval_instances.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _case(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    gt = np.zeros(M, np.int64)
    gt[:200], gt[200:400] = 3001, 4001  # cabinet, bed
    (gt_dir / "scene0000_00.txt").write_text("".join(f"{v}\n" for v in gt))
    masks = np.stack([gt == 3001, gt == 4001])
    write_submission(pred_dir, "scene0000_00", masks, [3, 3], [0.9, 0.5])  # bed predicted as cabinet
    return gt_dir, pred_dir


def test_cli_table_json_and_csv(tmp_path, capsys):
    gt_dir, pred_dir = _case(tmp_path)
    out = tmp_path / "res" / "eval.json"
    code = _cli()(["--gt", str(gt_dir), "--pred", str(pred_dir), "--benchmark", "scannet",
                   "--json", str(out), "--official-csv", "--quiet"])  # fmt: skip
    assert code == 0
    table = capsys.readouterr().out
    assert "cabinet" in table and "average" in table
    res = json.loads(out.read_text())
    assert res["ap"] == 0.5 and res["ap50"] == 0.5 and res["ap25"] == 0.5  # cabinet 1.0, bed 0.0
    assert res["per_class"]["cabinet"]["ap"] == 1.0 and res["per_class"]["bed"]["ap"] == 0.0
    assert res["per_class"]["chair"]["ap"] is None  # no GT: NaN -> null, dropped from the mean
    assert res["benchmark"] == "scannet" and res["num_scenes"] == 1
    csv = (out.parent / "semantic_instance_evaluation.txt").read_text().splitlines()
    assert csv[0] == "class,class id,ap,ap50,ap25" and "cabinet,3,1.0,1.0,1.0" in csv
    assert sorted(p.name for p in pred_dir.iterdir()) == ["pred_mask", "scene0000_00.txt"]


def test_cli_class_agnostic(tmp_path, capsys):
    gt_dir, pred_dir = _case(tmp_path)
    out = tmp_path / "agn.json"
    assert _cli()(["--gt", str(gt_dir), "--pred", str(pred_dir), "--benchmark", "scannet",
                   "--class-agnostic", "--json", str(out), "--quiet"]) == 0  # fmt: skip
    res = json.loads(out.read_text())
    assert res["ap"] == 1.0 and res["class_agnostic"] is True and list(res["per_class"]) == ["object"]


def test_cli_bad_input_one_line_exit_2(tmp_path):
    gt_dir, pred_dir = _case(tmp_path)
    (pred_dir / "scene0000_00.txt").write_text("pred_mask/scene0000_00_000.txt 3\n")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools/eval_instances.py"), "--gt", str(gt_dir), "--pred",
         str(pred_dir), "--benchmark", "scannet", "--quiet"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "scene0000_00.txt:1: expected" in lines[0]


def test_cli_missing_scene(tmp_path, capsys):
    gt_dir, pred_dir = _case(tmp_path)
    (gt_dir / "scene0001_00.txt").write_text("0\n" * M)
    args = ["--gt", str(gt_dir), "--pred", str(pred_dir), "--benchmark", "scannet", "--quiet"]
    assert _cli()(args) == 2
    assert "scene0001_00" in capsys.readouterr().err
    assert _cli()(args + ["--missing-as-empty"]) == 0
