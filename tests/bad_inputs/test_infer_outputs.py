"""tools/infer.py --out: a user's files are never replaced, only folders infer.py wrote; bad places fail first.

Every case: exit status 2, one `error:` line, the inputs byte-for-byte unchanged, no output and no
temporary folder left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from bad_input_helpers import hidden_leftovers, one_error_line, snapshot

from helpers import REPO, TOOLS


def test_overwrite_out_equal_to_the_photo_folder_keeps_the_photos(infer, photos, tiny_ckpt):
    before = snapshot(photos)
    code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", photos, "--overwrite")
    assert code == 2
    one_error_line(err, f"--out {photos} is the photo folder")
    assert snapshot(photos) == before and hidden_leftovers(photos.parent) == []


def test_overwrite_out_holding_the_photo_folder_keeps_everything(infer, photos, tiny_ckpt):
    room = photos.parent
    (room / "notes.txt").write_text("my notes")
    before = snapshot(room)
    code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", room, "--overwrite")
    assert code == 2
    one_error_line(err, f"--out {room} holds the photo folder {photos}")
    assert snapshot(room) == before


@pytest.mark.parametrize("out", [".", ".."])
def test_overwrite_current_folder_or_above_is_refused(infer, photos, tiny_ckpt, tmp_path, monkeypatch, out):
    work = tmp_path / "elsewhere" / "work"
    work.mkdir(parents=True)
    (work / "thesis.tex").write_text("years of work")
    monkeypatch.chdir(work)
    before = snapshot(tmp_path)
    code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", out, "--overwrite")
    assert code == 2
    one_error_line(err, f"--out {out}", "current folder")
    assert snapshot(tmp_path) == before


def test_out_inside_the_photo_folder_is_refused(infer, photos, tiny_ckpt):
    before = snapshot(photos)
    code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", photos / "results")
    assert code == 2
    one_error_line(err, "lies inside the photo folder")
    assert snapshot(photos) == before


def test_overwrite_out_holding_the_checkpoint_keeps_it(infer, photos, tiny_ckpt, tmp_path):
    from segvggt.inference.output_folder import write_manifest

    out = tmp_path / "results"
    out.mkdir()
    (out / "model.ckpt").write_bytes(tiny_ckpt.read_bytes())
    write_manifest(out)  # even a folder infer.py wrote is not replaced while it holds an input
    before = snapshot(out)
    code, _, err = infer("--images", photos, "--checkpoint", out / "model.ckpt", "--out", out, "--overwrite")
    assert code == 2
    one_error_line(err, "holds the checkpoint")
    assert snapshot(out) == before


def test_overwrite_out_holding_a_symlinked_photo_keeps_it(infer, photos, tiny_ckpt, tmp_path):
    from segvggt.inference.output_folder import write_manifest

    out = tmp_path / "results"
    out.mkdir()
    (photos / "a.png").rename(out / "a.png")
    (photos / "a.png").symlink_to(out / "a.png")  # the photo really lives in OUT
    write_manifest(out)
    before = snapshot(out)
    code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", out, "--overwrite")
    assert code == 2
    one_error_line(err, "holds the photo", "a.png")
    assert snapshot(out) == before


def test_overwrite_a_folder_infer_did_not_write_is_refused(infer, photos, tiny_ckpt, tmp_path):
    out = tmp_path / "my_results"
    out.mkdir()
    (out / "paper.pdf").write_bytes(b"%PDF")
    before = snapshot(out)
    code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", out, "--overwrite")
    assert code == 2
    one_error_line(err, "was not written by tools/infer.py")
    assert snapshot(out) == before


def test_overwrite_a_forged_manifest_is_refused(infer, photos, tiny_ckpt, tmp_path):
    out = tmp_path / "my_results"
    out.mkdir()
    (out / "segvggt-manifest.json").write_text('{"files": ["paper.pdf"]}')  # not infer.py's manifest
    (out / "paper.pdf").write_bytes(b"%PDF")
    before = snapshot(out)
    code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", out, "--overwrite")
    assert code == 2
    one_error_line(err, "was not written by tools/infer.py")
    assert snapshot(out) == before


def test_overwrite_keeps_a_results_folder_the_user_added_files_to(infer, photos, tiny_ckpt, tmp_path):
    from segvggt.inference.output_folder import write_manifest

    out = tmp_path / "results"
    (out / "depth").mkdir(parents=True)
    (out / "cameras.json").write_text("{}")
    (out / "depth" / "a.npy").write_bytes(b"x")
    write_manifest(out)
    (out / "notes.txt").write_text("what I saw in the room")
    before = snapshot(out)
    code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", out, "--overwrite")
    assert code == 2
    one_error_line(err, "1 file(s) that tools/infer.py did not write (e.g. notes.txt)")
    assert snapshot(out) == before


def test_overwrite_through_a_symlink_is_refused(infer, photos, tiny_ckpt, tmp_path):
    from segvggt.inference.output_folder import write_manifest

    real = tmp_path / "real_results"
    real.mkdir()
    write_manifest(real)
    link = tmp_path / "results"
    link.symlink_to(real)
    code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", link, "--overwrite")
    assert code == 2
    one_error_line(err, "is a symbolic link")
    assert link.is_symlink() and (real / "segvggt-manifest.json").is_file()


@pytest.mark.parametrize("out", ["/proc/segvggt_out", "/sys/segvggt_out"])
def test_out_in_a_special_folder_fails_before_the_model_runs(infer, photos, tiny_ckpt, out, monkeypatch):
    from segvggt.inference import predictor

    monkeypatch.setattr(predictor.Predictor, "from_checkpoint", lambda *a, **k: pytest.fail("model loaded"))
    code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", out)
    assert code == 2
    one_error_line(err, f"--out {out}: cannot write in")
    assert not os.path.exists(out)


def test_out_under_a_file_is_refused(infer, photos, tiny_ckpt, tmp_path):
    (tmp_path / "report.txt").write_text("a file")
    code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", tmp_path / "report.txt" / "out")
    assert code == 2
    one_error_line(err, "report.txt is a file, not a folder")
    assert (tmp_path / "report.txt").read_text() == "a file"


def test_out_that_is_a_file_is_not_replaced(infer, photos, tiny_ckpt, tmp_path):
    (tmp_path / "out").write_text("keep")
    code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", tmp_path / "out", "--overwrite")
    assert code == 2
    one_error_line(err, "exists and is not a folder")
    assert (tmp_path / "out").read_text() == "keep"


def test_ctrl_c_while_writing_leaves_the_old_results(infer, photos, tiny_ckpt, tmp_path, monkeypatch):
    from segvggt.inference import writers
    from segvggt.inference.output_folder import write_manifest

    out = tmp_path / "results"
    out.mkdir()
    (out / "cameras.json").write_text("previous run")
    write_manifest(out)
    before = snapshot(out)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writers, "write_point_clouds", interrupted)  # half-way through writing the new results
    code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", out, "--overwrite")
    assert code == 130
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted") and "Traceback" not in err
    assert snapshot(out) == before and hidden_leftovers(tmp_path) == []


def test_ctrl_c_during_the_final_rename_is_held_until_it_is_done(tmp_path):
    from segvggt.inference.output_folder import interrupts_deferred

    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            done.append("renamed")  # still runs: the interrupt waits for the end of the block
    assert done == ["renamed"]


def test_real_ctrl_c_prints_one_line_and_exits_130(photos, tiny_ckpt, tmp_path):
    """A real SIGINT, delivered while the results are being written (the child signals when it gets there,
    so the test does not depend on timing): one line, exit 130, no output and no temporary folder."""
    out, reached = tmp_path / "results" / "out", tmp_path / "writing"
    out.parent.mkdir()
    child = textwrap.dedent(f"""
        import signal, sys, time
        # A shell's background job inherits SIGINT ignored; a user's terminal delivers it.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.path.insert(0, {str(TOOLS)!r})
        import infer
        from segvggt.inference import writers

        def slow_point_clouds(*args, **kwargs):
            open({str(reached)!r}, "w").close()
            time.sleep(60)

        writers.write_point_clouds = slow_point_clouds
        sys.exit(infer.main(sys.argv[1:]))
    """)
    cmd = [sys.executable, "-c", child, "--images", str(photos), "--checkpoint", str(tiny_ckpt), "--out", str(out),
           "--quiet", "--device", "cpu"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not reached.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reached.exists(), proc.communicate()[1]
    assert any(p.name.startswith(".out.partial-") for p in out.parent.iterdir())  # mid-write: a partial folder
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("WARNING")]
    assert len(lines) == 1 and lines[0].startswith("interrupted") and "Traceback" not in err, err
    assert list(out.parent.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; /proc and /sys cover it here")
def test_out_in_a_read_only_folder_is_refused(infer, photos, tiny_ckpt, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code, _, err = infer("--images", photos, "--checkpoint", tiny_ckpt, "--out", locked / "out")
    finally:
        locked.chmod(0o755)
    assert code == 2
    one_error_line(err, "cannot write in")
    assert list(locked.iterdir()) == []


def test_python_api_raises_the_same_typed_error(photos, tiny_ckpt):
    from segvggt.data.errors import DataError
    from segvggt.inference.pipeline import InferenceOptions, run_inference

    before = snapshot(photos.parent)
    with pytest.raises(DataError, match="is the photo folder"):
        run_inference(photos, tiny_ckpt, photos, options=InferenceOptions(overwrite=True, progress=False))
    assert snapshot(photos.parent) == before
