"""make_synthetic / prepare_scannet outputs never land in the user's files, config files fail in one line,
and every tool answers --help (exit 0) without a model or data."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from bad_input_helpers import call, one_error_line, snapshot, tool

from helpers import REPO, TOOLS

TOOL_NAMES = ("infer", "eval", "eval_instances", "train", "make_synthetic", "prepare_scannet", "prepare_scannetpp")


@pytest.mark.parametrize("out", ["/proc/segvggt_synthetic", "file"])
def test_make_synthetic_unwritable_out_is_refused(capsys, tmp_path, out):
    if out == "file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file"
    code, _, err = call(tool("make_synthetic"), ["--out", out, "--num-train", "1", "--num-val", "0"], capsys)
    assert code == 2
    one_error_line(err, f"--out {out}")
    assert snapshot(tmp_path) in ({}, {"file": b"x"})


def test_make_synthetic_into_a_folder_of_other_files_is_refused(capsys, tmp_path):
    (tmp_path / "holiday.jpg").write_bytes(b"jpeg")
    code, _, err = call(tool("make_synthetic"), ["--out", tmp_path, "--num-train", "1", "--num-val", "0"], capsys)
    assert code == 2
    one_error_line(err, "already holds other files and is not a prepared dataset")
    assert snapshot(tmp_path) == {"holiday.jpg": b"jpeg"}



def test_make_synthetic_reversed_sweep_arc_is_refused(capsys, tmp_path):
    args = ["--out", tmp_path / "rooms", "--num-train", "1", "--num-val", "0", "--trajectory", "sweep",
            "--sweep-degrees", "150", "90"]  # fmt: skip
    code, _, err = call(tool("make_synthetic"), args, capsys)
    assert code == 2
    one_error_line(err, "sweep_degrees must satisfy 0 <= low <= high <= 360")
    assert snapshot(tmp_path) == {}


def test_train_refuses_synthetic_rooms_of_another_trajectory(capsys, tmp_path):
    from segvggt.data.synthetic import SyntheticSpec, generate

    root = tmp_path / "rooms"
    generate(root, num_train=1, num_val=1, seed=0, spec=SyntheticSpec(width=56, height=42, frames=4), progress=False)
    before = snapshot(tmp_path)
    args = ["--config", "tiny", "--out", tmp_path / "run", "--set", f"data.root={root}",
            "data.synthetic_trajectory=sweep"]  # fmt: skip
    code, _, err = call(tool("train"), args, capsys)
    assert code == 2
    one_error_line(err, "but the config asks for")
    assert snapshot(tmp_path) == before  # no run folder, the rooms untouched

@pytest.fixture()
def raw(tmp_path):
    scan = tmp_path / "raw" / "scans" / "scene0000_00"
    scan.mkdir(parents=True)
    (scan / "scene0000_00_vh_clean_2.ply").write_bytes(b"ply")
    return tmp_path / "raw"


@pytest.mark.parametrize("sub", ["", "scans", "scans/prepared"])
def test_prepare_scannet_out_inside_raw_is_refused(capsys, raw, sub):
    out = raw / sub if sub else raw
    before = snapshot(raw)
    code, _, err = call(tool("prepare_scannet"), ["--raw", raw, "--out", out, "--benchmark", "scannet", "--overwrite"],
                        capsys)  # fmt: skip
    assert code == 2
    one_error_line(err, "lies inside --raw", "a prepared scene would replace a raw scan")
    assert snapshot(raw) == before


@pytest.fixture()
def raw_pp(tmp_path):
    scene = tmp_path / "raw_pp" / "data" / "0a5c013435"
    (scene / "scans").mkdir(parents=True)
    (scene / "scans" / "mesh_aligned_0.05.ply").write_bytes(b"ply")
    return tmp_path / "raw_pp"


@pytest.mark.parametrize("sub", ["", "data", "data/prepared"])
def test_prepare_scannetpp_out_inside_raw_is_refused(capsys, raw_pp, sub):
    out = raw_pp / sub if sub else raw_pp
    before = snapshot(raw_pp)
    code, _, err = call(tool("prepare_scannetpp"), ["--raw", raw_pp, "--out", out, "--overwrite"], capsys)
    assert code == 2
    one_error_line(err, "lies inside --raw", "choose an output folder outside the raw data")
    assert snapshot(raw_pp) == before


def test_prepare_scannetpp_into_a_folder_of_other_files_is_refused(capsys, raw_pp, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    code, _, err = call(tool("prepare_scannetpp"), ["--raw", raw_pp, "--out", mine], capsys)
    assert code == 2
    one_error_line(err, "already holds other files and is not a prepared-data root")
    assert snapshot(mine) == {"notes.txt": b"keep"}


def test_prepare_scannet_frame_skip_zero_is_refused(capsys, raw, tmp_path):
    code, _, err = call(tool("prepare_scannet"), ["--raw", raw, "--out", tmp_path / "prep", "--benchmark", "scannet",
                                                  "--frame-skip", "0"], capsys)  # fmt: skip
    assert code == 2
    one_error_line(err, "--frame-skip must be >= 1, got 0")
    assert not (tmp_path / "prep").exists()


def test_bad_yaml_config_is_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  max_steps: [1,\n")
    code, _, err = call(tool("train"), ["--config", bad, "--out", tmp_path / "run"], capsys)
    assert code == 2
    one_error_line(err, f"{bad} is not valid YAML")
    assert not (tmp_path / "run").exists()


def test_unknown_config_name_lists_the_choices(capsys, tmp_path):
    code, _, err = call(tool("eval"), ["--config", "scannet9000", "--oracle"], capsys)
    assert code == 2
    one_error_line(err, "no config named 'scannet9000'; choose one of", "tiny")


@pytest.mark.parametrize("name", [n for n in TOOL_NAMES if n != "prepare_scannetpp"])
def test_unknown_option_is_one_line(capsys, name):
    code, _, err = call(tool(name), ["--no-such-option"], capsys)
    assert code == 2
    one_error_line(err, "--help")


def test_every_tool_answers_help():
    """`python tools/X.py --help` exits 0 for every tool (run as a user would, one process each)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    for name in TOOL_NAMES:
        proc = subprocess.run([sys.executable, str(TOOLS / f"{name}.py"), "--help"], capture_output=True, text=True,
                              timeout=60, env=env)  # fmt: skip
        assert proc.returncode == 0 and "usage:" in proc.stdout and proc.stderr == "", (name, proc.stderr)
