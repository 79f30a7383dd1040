"""The web app's logic without a browser: outputs, zip, clicks answered from the cache, video uploads, errors."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from segvggt.data.errors import DataError
from segvggt.inference.errors import InferenceError


def test_reconstruct_writes_and_zips_every_output(session, app_photos):
    view = session.reconstruct(app_photos)
    assert view.names == ["a", "b", "c"] and session.backbone_runs == 1
    assert all(p.is_file() for p in view.photos + view.overlays) and view.glb.is_file()
    names = set(zipfile.ZipFile(view.zip).namelist())
    for member in ("cameras.json", "instances.json", "scene.ply", "preview.png", "scene.glb", "transforms.json",
                   "colmap/sparse/0/images.txt", "images/a.png", "masks/c.png", "depth/b.npy"):
        assert member in names, member
    assert "views" in view.message


def test_clicks_are_answered_from_the_cache(session, app_photos, app_checkpoint):
    from PIL import Image

    from segvggt.inference.predictor import Predictor

    view = session.reconstruct(app_photos)
    first = session.click(view.run, 0, 40, 30)
    second = session.click(view.run, 1, 10, 10, positive=False, add=True)
    assert session.backbone_runs == 1  # two clicks, no backbone run
    assert second.clicks == [(0, 40.0, 30.0, True), (1, 10.0, 10.0, False)]
    # the masks are those of an independent predictor asked the same clicks
    reference = Predictor.from_checkpoint(app_checkpoint, "cpu")
    reference.set_images(app_photos)
    for answer in (first, second):
        expected = reference.segment(answer.clicks)
        for v in range(3):
            np.testing.assert_array_equal(answer.mask_arrays[v], expected.mask(v))
        assert answer.num_points == len(expected.points) and answer.glb.is_file()
    # each overlay shows its mask: pixels that differ from the photo are exactly the mask's
    for v in range(3):
        photo = np.asarray(Image.open(view.photos[v])).astype(int)
        shown = np.asarray(Image.open(first.masks[v])).astype(int)
        assert (np.abs(shown - photo).max(-1) > 12).mean() == pytest.approx(first.mask_arrays[v].mean(), abs=0.01)


def test_a_click_on_an_older_scene_encodes_it_again(session, app_photos):
    old = session.reconstruct(app_photos)
    before = session.click(old.run, 0, 40, 30)
    session.reconstruct(app_photos[:2])  # another tab: the predictor now holds a 2-view scene
    assert session.backbone_runs == 2
    again = session.click(old.run, 0, 40, 30)
    assert session.backbone_runs == 3 and len(again.mask_arrays) == 3
    for a, b in zip(before.mask_arrays, again.mask_arrays):
        np.testing.assert_array_equal(a, b)


def test_video_upload_and_bad_uploads(session, app_photos, tmp_path):
    av = pytest.importorskip("av")
    video = tmp_path / "room.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(25):
            image = np.zeros((48, 64, 3), np.uint8)
            image[:, : 2 * i + 4] = (200, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    view = session.reconstruct([video], fps=1.0)
    assert view.names == ["frame_000000", "frame_000010", "frame_000020"]
    with pytest.raises(InferenceError, match="either photos of one scene or one video"):
        session.reconstruct([video, *app_photos])
    with pytest.raises(DataError, match="only 1 image"):
        session.reconstruct(app_photos[:1])
    with pytest.raises(InferenceError, match="view 5 does not exist"):
        session.click(view.run, 5, 1, 1)
