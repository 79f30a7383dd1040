"""tools/app.py end to end in a real headless Chromium: open, upload, reconstruct, click, read the mask back."""

from __future__ import annotations

import io
import os
import shutil
import urllib.request
import zipfile

import numpy as np
import pytest

pytest.importorskip("gradio", reason="the web app's extra is not installed: pip install -e '.[app]'")
pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[dev]'")

import browser  # noqa: E402  (tests/app/browser.py)

BROWSER, DRIVER = browser.find_browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None or DRIVER is None,
    reason="no headless browser: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture()
def served(session, tmp_path):
    from helpers import tools_on_path

    tools_on_path()
    import app

    port = browser.free_port()
    demo = app.launch(session, port=port, block=False)
    driver = browser.start_driver(tmp_path / "profile")
    try:
        yield driver, f"http://127.0.0.1:{port}/"
    finally:
        driver.quit()
        demo.close()


def test_upload_click_and_read_back_the_mask(served, session, app_photos, app_checkpoint, tmp_path):
    from PIL import Image

    from segvggt.inference.predictor import Predictor

    driver, url = served
    browser.upload_and_reconstruct(driver, url, app_photos)
    assert session.backbone_runs == 1
    info = browser.select_and_click(driver, 1, "b")
    assert session.backbone_runs == 1, "a click must be answered from the cache, without running the backbone"
    (frame, x, y, positive), = session.clicks(0)
    assert frame == 1 and positive and f"last on b at ({x:.0f}, {y:.0f})" in info
    h, w = 48, 72  # b.jpg: the click landed in the middle of the shown photo
    assert abs(x - (w - 1) / 2) <= 1.5 and abs(y - (h - 1) / 2) <= 1.5

    # the mask on every view, as the browser shows it, is the one an independent predictor gives
    reference = Predictor.from_checkpoint(app_checkpoint, "cpu")
    reference.set_images(app_photos)
    expected = reference.segment([(frame, x, y, True)])
    shown = browser.wait_for(lambda: (lambda imgs: imgs if len(imgs) == 3 else None)(browser.images_in(driver, "masks")),
                             what="the masks on every view")
    assert any(expected.mask(v).any() for v in range(3))
    for v, img in enumerate(shown):
        overlay = browser.fetch_image(img.get_attribute("src")).astype(int)  # what the page shows
        assert overlay.shape == expected.mask(v).shape + (3,)
        with Image.open(session.photo(0, v)) as file:  # the plain photo under the overlay
            photo = np.asarray(file).astype(int)
        read_back = np.abs(overlay - photo).max(-1) > 12  # magenta fill and white outline inside the mask
        assert (read_back == expected.mask(v)).mean() > 0.99, f"view {v}"

    # the zip holds the outputs
    with urllib.request.urlopen(browser.download_url(driver), timeout=10) as response:
        names = zipfile.ZipFile(io.BytesIO(response.read())).namelist()
    assert {"cameras.json", "scene.glb", "transforms.json", "colmap/sparse/0/points3D.txt"} <= set(names)
    driver.save_screenshot(str(tmp_path / "app.png"))
    if os.environ.get("SEGVGGT_APP_SCREENSHOT"):
        shutil.copyfile(tmp_path / "app.png", os.environ["SEGVGGT_APP_SCREENSHOT"])
