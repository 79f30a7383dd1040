"""tools/eval.py and tools/train.py: refused before any model is built, nothing written, no run folder left.

Data roots here are fakes with a split file and empty `scene.json` files: every case is refused before a
scene would be read.
"""

from __future__ import annotations

import pytest
import yaml
from bad_input_helpers import call, code_pickle, one_error_line, snapshot, tool

from helpers import REPO, tools_on_path


@pytest.fixture()
def data_root(tmp_path):
    root = tmp_path / "data"
    (root / "splits").mkdir(parents=True)
    (root / "splits" / "val.txt").write_text("scene_a\n")
    (root / "splits" / "empty.txt").write_text("")
    (root / "scene_a").mkdir()
    (root / "scene_a" / "scene.json").write_text("{}")
    return root


def _eval(capsys, *args):
    return call(tool("eval"), ["--config", "tiny", *args], capsys)


def test_eval_on_an_empty_split_is_refused_without_writing_json(capsys, data_root, tmp_path):
    out = tmp_path / "res.json"
    code, _, err = _eval(capsys, "--oracle", "--data-root", data_root, "--split", "empty", "--json", out)
    assert code == 2
    one_error_line(err, "split empty of", "lists no scenes")
    assert not out.exists()


@pytest.mark.parametrize("where", ["proc", "checkpoint", "config", "data"])
def test_eval_json_that_would_replace_an_input_or_cannot_be_written(capsys, data_root, tmp_path, where):
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"weights")
    config = tmp_path / "my.yaml"
    config.write_text(f"base: {REPO / 'configs' / 'tiny.yaml'}\n")
    json_path = {"proc": "/proc/res.json", "checkpoint": ckpt, "config": config, "data": data_root / "res.json"}[where]
    before = snapshot(tmp_path)
    code, _, err = call(tool("eval"), ["--config", config, "--ckpt", ckpt, "--data-root", data_root, "--split", "val",
                                       "--json", json_path], capsys)  # fmt: skip
    assert code == 2
    fragment = {"proc": "cannot write in /proc", "checkpoint": "is the checkpoint", "config": "is the config",
                "data": "lies inside the data root"}[where]  # fmt: skip
    one_error_line(err, f"--json {json_path}", fragment)
    assert snapshot(tmp_path) == before


def test_eval_submission_into_the_data_is_refused(capsys, data_root):
    before = snapshot(data_root)
    code, _, err = _eval(capsys, "--oracle", "--data-root", data_root, "--split", "val", "--submission",
                         data_root / "gt_instance")
    assert code == 2
    one_error_line(err, "--submission", "lies inside the data root")
    assert snapshot(data_root) == before


def test_eval_submission_into_a_folder_of_other_files_is_refused(capsys, data_root, tmp_path):
    mine = tmp_path / "docs"
    mine.mkdir()
    (mine / "scene_a.txt").write_text("my notes, not a prediction")
    code, _, err = _eval(capsys, "--oracle", "--data-root", data_root, "--split", "val", "--submission", mine)
    assert code == 2
    one_error_line(err, f"--submission {mine} already holds other files and is not a submission folder")
    assert (mine / "scene_a.txt").read_text() == "my notes, not a prediction"


def test_eval_unknown_device_is_one_line(capsys, data_root, tiny_ckpt):
    code, _, err = _eval(capsys, "--ckpt", tiny_ckpt, "--data-root", data_root, "--split", "val", "--device", "tpu9")
    assert code == 2
    one_error_line(err, "unknown device 'tpu9'")


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("optim.lr_new=.nan", "config key optim.lr_new: nan is not a finite number"),
        ("data.aspect_range=[0.5, .inf]", "config key data.aspect_range[1]: inf is not a finite number"),
        ("trainer.max_steps=-5", "trainer.max_steps must be >= 1, got -5"),
        ("trainer.max_steps=ten", "trainer.max_steps: expected an integer, got 'ten'"),
        ("optim.warmup_fraction=1.5", "warmup_fraction must lie in [0, 1)"),
        ("data.root=/proc/segvggt_data", "data.root (the synthetic scenes are generated there)"),
    ],
    ids=["lr_nan", "aspect_inf", "max_steps_negative", "max_steps_text", "warmup_1_5", "data_root_unwritable"],
)
def test_train_bad_config_leaves_no_run_folder(capsys, tmp_path, override, fragment):
    run = tmp_path / "run"
    code, _, err = call(tool("train"), ["--config", "tiny", "--out", run, "--set", override], capsys)
    assert code == 2
    one_error_line(err, fragment)
    assert not run.exists() and snapshot(tmp_path) == {}


def test_train_unwritable_run_folder_is_refused(capsys, tmp_path):
    code, _, err = call(tool("train"), ["--config", "tiny", "--out", "/proc/segvggt_run"], capsys)
    assert code == 2
    one_error_line(err, "--out /proc/segvggt_run: cannot write in /proc")


def test_train_into_a_folder_of_other_files_is_refused(capsys, tmp_path):
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "config.yaml").write_text("my own config")
    code, _, err = call(tool("train"), ["--config", "tiny", "--out", mine], capsys)
    assert code == 2
    one_error_line(err, f"--out {mine} already exists and is not empty")
    assert snapshot(mine) == {"config.yaml": b"my own config"}


def _run_folder(tmp_path, last_ckpt_bytes: bytes | None = None):
    """A run folder as tools/train.py leaves it (config.yaml), with the given last.ckpt."""
    tools_on_path()
    from _common import experiment_config

    _, cfg_dict = experiment_config("tiny", [f"data.root={tmp_path / 'data'}"])
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(cfg_dict, sort_keys=False))
    if last_ckpt_bytes is not None:
        (run / "last.ckpt").write_bytes(last_ckpt_bytes)
    return run


@pytest.mark.parametrize("kind", ["corrupt", "foreign", "code", "other_model"])
def test_resume_from_a_bad_last_ckpt_leaves_no_logs(capsys, tmp_path, tiny_ckpt, kind):
    import torch

    marker = tmp_path / "code_ran"
    if kind == "corrupt":
        run = _run_folder(tmp_path, tiny_ckpt.read_bytes()[:5000])
    elif kind == "foreign":
        run = _run_folder(tmp_path, b"")
        torch.save({"aggregator.camera_token": torch.zeros(1)}, run / "last.ckpt")  # an official-VGGT-like file
    elif kind == "code":
        run = _run_folder(tmp_path, b"")
        code_pickle(run / "last.ckpt", marker, torch_format=True)
    else:  # a SegVGGT checkpoint of another model config (the tiny inference model)
        run = _run_folder(tmp_path, tiny_ckpt.read_bytes())
    before = snapshot(run)
    code, _, err = call(tool("train"), ["--config", "tiny", "--out", run, "--resume", "--no-final-eval"], capsys)
    assert code == 2
    fragment = {"corrupt": "cannot read checkpoint", "foreign": "is not a checkpoint written by tools/train.py",
                "code": "asks to run Python code", "other_model": "another model config"}[kind]  # fmt: skip
    one_error_line(err, "cannot resume: ", fragment)
    assert snapshot(run) == before and not marker.exists()  # no logs/, no new config.yaml, no code run
