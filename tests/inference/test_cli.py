"""tools/infer.py end to end on synthetic photos, and every bad input: one message, exit 2, no OUT folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import tools_on_path


@pytest.fixture(scope="module")
def infer_main():
    tools_on_path()
    import infer

    return infer.main


def run(infer_main, capsys, photos_dir, ckpt, out, *extra):
    code = infer_main(["--images", str(photos_dir), "--checkpoint", str(ckpt), "--out", str(out), "--quiet",
                       "--device", "cpu", *extra])
    return code, capsys.readouterr()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_cli_writes_every_output(infer_main, capsys, photos, ckpt_path, tmp_path):
    import open3d as o3d
    from PIL import Image

    from segvggt.inference.predictor import Predictor

    folder, sizes = photos
    (folder / "notes.txt").write_text("not a photo")  # ignored: not an image extension
    out = tmp_path / "out"
    code, io = run(infer_main, capsys, folder, ckpt_path, out, "--score-threshold", "0", "--conf-percentile", "20",
                   "--prompt", "0,40,30,+", "--prompt", "1,10,10,+;2,20,40,-")
    assert code == 0, io.err
    names = ["a", "b", "c"]
    for rel in ("cameras.json", "instances.json", "scene.ply", "instances.ply", "preview.png",
                "prompts/0/prompt.json", "prompts/1/prompt.json"):
        assert (out / rel).is_file(), rel
    cameras = json.loads((out / "cameras.json").read_text())["frames"]
    assert [c["name"] for c in cameras] == names
    for cam, (file, (h, w)) in zip(cameras, sorted(sizes.items())):
        assert (cam["file"], cam["height"], cam["width"]) == (file, h, w)
        assert np.load(out / "depth" / f"{cam['name']}.npy").shape == (h, w)
        assert Image.open(out / "depth" / f"{cam['name']}.png").size == (w, h)
        mask = np.asarray(Image.open(out / "masks" / f"{cam['name']}.png"))
        assert mask.shape == (h, w)
        for k in (0, 1):
            assert Image.open(out / "prompts" / str(k) / f"{cam['name']}.png").size == (w, h)

    # cameras.json == the model's cameras; intrinsics map back to the network's
    predictor = Predictor.from_checkpoint(ckpt_path, "cpu")
    paths = sorted(p for p in folder.iterdir() if p.suffix != ".txt")
    x, records, _ = predictor.preprocess(paths)
    with torch.no_grad():
        pose = predictor.model(x[None])["pose_enc"]
    from segvggt.backbone import pose_encoding_to_extri_intri

    extrinsics, intrinsics = pose_encoding_to_extri_intri(pose, tuple(x.shape[-2:]))
    for view, cam in enumerate(cameras):
        np.testing.assert_allclose(np.array(cam["cam_from_world"]), extrinsics[0, view].numpy(), atol=1e-5)
        K = torch.tensor(cam["intrinsics"], dtype=torch.float32)
        r = records[view]
        sy, sx = r.scale_yx
        net = torch.tensor([[K[0, 0] * sx, 0, (K[0, 2] + 0.5) * sx - 0.5 + r.offset_yx[1]],
                            [0, K[1, 1] * sy, (K[1, 2] + 0.5) * sy - 0.5 + r.offset_yx[0]], [0, 0, 1]])
        torch.testing.assert_close(net, intrinsics[0, view], atol=1e-4, rtol=1e-5)

    # PLY files re-read with open3d: point count and labels as written, consistent with instances.json
    scene = o3d.t.io.read_point_cloud(str(out / "scene.ply"))
    labels = scene.point["instance"].numpy().reshape(-1)
    conf = scene.point["confidence"].numpy().reshape(-1)
    assert scene.point.positions.shape[0] == len(labels) == len(conf) > 0
    assert f"{len(labels)} points" in io.out
    instances = json.loads((out / "instances.json").read_text())["instances"]
    assert instances, "score threshold 0 keeps instances"
    for inst in instances:
        assert inst["num_points"] == int((labels == inst["id"]).sum())
        if inst["num_points"]:
            pts = scene.point.positions.numpy()[labels == inst["id"]]
            np.testing.assert_allclose(inst["box_min"], pts.min(0), atol=1e-5)
            np.testing.assert_allclose(inst["box_max"], pts.max(0), atol=1e-5)
    labelled = o3d.t.io.read_point_cloud(str(out / "instances.ply"))
    assert labelled.point.positions.shape[0] == int((labels > 0).sum())
    # about 20 % of the points fall below the confidence percentile
    total = sum(int(np.prod(r.final_hw)) for r in records)
    assert len(labels) < total
    prompt = json.loads((out / "prompts" / "1" / "prompt.json").read_text())
    assert [c["positive"] for c in prompt["clicks"]] == [True, False]
    assert leftovers(tmp_path) == []


def test_cli_replaces_out_only_with_overwrite(infer_main, capsys, photos, ckpt_path, tmp_path):
    folder, _ = photos
    out = tmp_path / "out"
    code, io = run(infer_main, capsys, folder, ckpt_path, out)
    assert code == 0, io.err
    (out / "cameras.json").write_text("stale")
    code, io = run(infer_main, capsys, folder, ckpt_path, out)
    assert code == 2 and "already exists" in io.err and (out / "cameras.json").read_text() == "stale"
    code, io = run(infer_main, capsys, folder, ckpt_path, out, "--overwrite")
    assert code == 0 and (out / "cameras.json").read_text() != "stale"
    assert leftovers(tmp_path) == []


def _bad_folder(case, photos, tmp_path):
    folder, _ = photos
    if case == "empty":
        empty = tmp_path / "empty"
        empty.mkdir()
        (empty / "readme.md").write_text("no photos here")
        return empty
    if case == "one_image":
        for name in ("b.jpg", "c.jpg"):
            (folder / name).unlink()
    if case == "corrupt":
        (folder / "d.jpg").write_bytes(b"this is not a jpeg")
    if case == "truncated":
        data = (folder / "a.png").read_bytes()
        (folder / "a.png").write_bytes(data[: len(data) // 3])
    return folder


@pytest.mark.parametrize(
    "case, extra, message",
    [
        ("empty", (), "no images found"),
        ("one_image", (), "at least 2 photos"),
        ("corrupt", (), "d.jpg: cannot decode image"),
        ("truncated", (), "a.png: cannot decode image"),
        ("missing_frame", ("--prompt", "5,1,1,+"), "frame 5 does not exist"),
        ("outside", ("--prompt", "0,81,10,+"), "outside image 0"),
        ("bad_prompt", ("--prompt", "0,1,+"), "each click is 'frame,x,y,+'"),
        ("wrong_checkpoint", (), "cannot read checkpoint"),
        ("memory", (), "try --max-frames 2"),
        ("bad_percentile", ("--conf-percentile", "100"), "--conf-percentile must lie in"),
    ],
)
def test_bad_input_gets_one_message_and_no_output(case, extra, message, infer_main, capsys, photos, ckpt_path, tmp_path,
                                                  monkeypatch):
    folder = _bad_folder(case, photos, tmp_path)
    ckpt = ckpt_path
    if case == "wrong_checkpoint":
        ckpt = tmp_path / "model.ckpt"
        ckpt.write_bytes(b"\x00" * 100)
    if case == "memory":
        from segvggt.inference import memory
        from segvggt.inference.checkpoints import load_model

        budget = memory.estimate_peak_bytes(load_model(ckpt_path).model, 2, 56, 56)  # room for 2 of the 3 photos
        monkeypatch.setattr(memory, "available_bytes", lambda device: budget)
    out = tmp_path / "results" / "out"
    out.parent.mkdir()
    code, io = run(infer_main, capsys, folder, ckpt, out, *extra)
    assert code == 2
    lines = [line for line in io.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], io.err
    assert "Traceback" not in io.err
    assert not out.exists() and list(out.parent.iterdir()) == []
