"""Video input: frame sampling, names, rotation, errors, and tools/infer.py --video (videos made with PyAV)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segvggt.data.errors import DataError
from segvggt.inference.video import extract_frames, sample_frames

av = pytest.importorskip("av", reason="PyAV (extra segvggt[video]) not installed")

W, H = 64, 48


def frame_image(index: int) -> np.ndarray:
    """Grey level 8 * index, with a red block in the top-left corner (to see rotations)."""
    img = np.full((H, W, 3), 8 * index, np.uint8)
    img[:16, :16] = (255, 0, 0)
    return img


def write_video(path, num_frames: int, fps: int = 10, rotation: int | None = None):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "10"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(num_frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame_image(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_sampling_rule():
    times = np.arange(30) / 10.0
    assert sample_frames(times, 1.0, None) == [0, 10, 20]
    assert sample_frames(times, 2.0, None) == [0, 5, 10, 15, 20, 25]
    assert sample_frames(times, 100.0, None) == list(range(30))  # more than the video has: every frame
    assert sample_frames(times, 2.0, 3) == [0, 10, 25]  # then at most N, evenly spaced, first and last kept
    assert sample_frames(np.array([0, 0.3, 0.9, 1.05, 1.2, 2.5]), 1.0, None) == [0, 3, 5]  # variable frame rate


def test_extract_frames_names_and_pixels(tmp_path):
    video = write_video(tmp_path / "room.mp4", 30)
    paths = extract_frames(video, tmp_path / "frames", fps=1)
    assert [p.name for p in paths] == ["frame_000000.jpg", "frame_000010.jpg", "frame_000020.jpg"]
    from PIL import Image

    for path, index in zip(paths, (0, 10, 20)):
        img = np.asarray(Image.open(path)).astype(int)
        assert img.shape == (H, W, 3)
        assert abs(img[30:, 30:].mean() - 8 * index) < 4  # this is frame `index` of the video
        assert img[:12, :12, 0].mean() > 200 and img[:12, :12, 1].mean() < 60  # red block top-left
    assert [p.name for p in extract_frames(video, tmp_path / "two", fps=1, max_frames=2)] == \
        ["frame_000000.jpg", "frame_000020.jpg"]


def test_rotated_phone_video_frames_are_upright(tmp_path):
    # display matrix "rotate 90 degrees counter-clockwise" (as ffmpeg shows it): the top-left red block
    # ends bottom-left and the frame is 48 wide, 64 high
    video = write_video(tmp_path / "phone.mp4", 12, rotation=90)
    from PIL import Image

    img = np.asarray(Image.open(extract_frames(video, tmp_path / "frames", fps=1)[0])).astype(int)
    assert img.shape == (W, H, 3)
    assert img[-12:, :12, 0].mean() > 200 and img[:12, :12, 0].mean() < 60


def test_video_errors(tmp_path):
    with pytest.raises(DataError, match="video file not found"):
        extract_frames(tmp_path / "missing.mp4", tmp_path / "f")
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(DataError, match="junk.mp4: cannot read video"):
        extract_frames(tmp_path / "junk.mp4", tmp_path / "f")
    short = write_video(tmp_path / "short.mp4", 8)  # 0.8 s: one frame at 1 fps
    with pytest.raises(DataError, match="give 1 photo\\(s\\) at --fps 1; a scene needs at least 2: raise --fps"):
        extract_frames(short, tmp_path / "f", fps=1)
    assert not (tmp_path / "f").exists()


def test_infer_cli_on_a_video(ckpt_path, tmp_path, capsys):
    from helpers import tools_on_path

    tools_on_path()
    import infer

    video = write_video(tmp_path / "room.mp4", 30)
    out = tmp_path / "results" / "room"
    out.parent.mkdir()
    code = infer.main(["--video", str(video), "--fps", "2", "--max-frames", "3", "--checkpoint", str(ckpt_path),
                       "--out", str(out), "--quiet", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    names = [f["name"] for f in json.loads((out / "cameras.json").read_text())["frames"]]
    assert names == ["frame_000000", "frame_000010", "frame_000025"]  # 2 per second, then 3 evenly spaced
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{n}.jpg" for n in names]
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"{n}.png" for n in names]
    assert [p.name for p in out.parent.iterdir()] == ["room"]  # the temporary frames folder is gone
    code = infer.main(["--video", str(tmp_path / "missing.mp4"), "--checkpoint", str(ckpt_path),
                       "--out", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "missing.mp4: video file not found" in err and not (tmp_path / "x").exists()
