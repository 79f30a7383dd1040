"""Drive tools/app.py in a real headless Chromium (selenium + Debian's chromium / chromium-driver).

Used by test_app_browser.py, and by hand to refresh the README screenshot:
    python tests/app/browser.py --checkpoint runs/synthetic-<time>/last.ckpt --photos PHOTO_DIR --out docs/app.png
"""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver", "chromium-driver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-unsafe-swiftshader", "--window-size=1400,1900")  # software WebGL for the 3D viewer


def find_browser() -> tuple[str | None, str | None]:
    """(chromium binary, chromedriver binary) on PATH, None where missing."""
    return next(filter(None, map(shutil.which, BROWSERS)), None), next(filter(None, map(shutil.which, DRIVERS)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_driver(profile_dir: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = find_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def wait_for(predicate, timeout: float = 30.0, what: str = "the page"):
    """Poll `predicate` until it returns something truthy; AssertionError naming `what` after `timeout` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - the element is not there yet / went stale while the page updates
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def fetch_image(url: str) -> np.ndarray:
    from PIL import Image

    with urllib.request.urlopen(url, timeout=10) as response:  # the app on 127.0.0.1 only
        return np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))


def images_in(driver, elem_id: str) -> list:
    from selenium.webdriver.common.by import By

    return [img for img in driver.find_elements(By.CSS_SELECTOR, f"#{elem_id} img") if img.get_attribute("src")]


def upload_and_reconstruct(driver, url: str, files: list[Path], timeout: float = 60.0) -> None:
    """Open the page, give the files to the upload box, press Reconstruct, wait for the photo gallery."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    box = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "#upload input[type=file]"), what="the upload box")
    driver.execute_script("arguments[0].style.display = 'block';", box)  # Gradio hides the native input
    box.send_keys("\n".join(str(f) for f in files))
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#upload .file-preview tr, #upload table tr")) >= len(files)
             or "Reconstruct" in driver.page_source and driver.find_elements(By.CSS_SELECTOR, "#upload .file-preview"),
             what="the uploaded files to be listed")
    driver.find_element(By.CSS_SELECTOR, "#reconstruct").click()
    wait_for(lambda: len(images_in(driver, "photos")) >= 2, timeout, "the reconstructed photos")


def select_and_click(driver, view: int, name: str, timeout: float = 30.0, at: tuple[float, float] = (0.5, 0.5)) -> str:
    """Select photo `view` (file `name`.png in the app) in the gallery, click the shown photo at `at` (fractions
    of its width and height; default the centre); returns the click info text."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    images_in(driver, "photos")[view].click()
    shown = wait_for(lambda: [i for i in images_in(driver, "click-image") if i.get_attribute("src").endswith(f"/{name}.png")],
                     what=f"photo {name} to click on")[0]
    time.sleep(0.5)  # the image has just been swapped in: let its click handler attach
    box = shown.rect  # offsets are measured from the element's centre
    dx, dy = round((at[0] - 0.5) * box["width"]), round((at[1] - 0.5) * box["height"])
    ActionChains(driver).move_to_element_with_offset(shown, dx, dy).click().perform()
    return wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "#click-info textarea").get_attribute("value"),
                    timeout, "the click's answer")


def download_url(driver) -> str:
    from selenium.webdriver.common.by import By

    return wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "#download a").get_attribute("href"), what="the zip")


def main(argv=None) -> int:
    """Refresh the README screenshot: start the app on a checkpoint, upload photos, click, save the page."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    import tempfile

    import app

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--photos", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--view", type=int, default=0)
    p.add_argument("--at", default="0.5,0.5", help="where to click, as fractions of the photo's width,height")
    args = p.parse_args(argv)
    from segvggt.inference.app_session import AppSession
    from segvggt.inference.predictor import Predictor

    work = Path(tempfile.mkdtemp(prefix="segvggt-shot-"))
    session = AppSession(Predictor.from_checkpoint(args.checkpoint, "cpu"), work / "app")
    port = free_port()
    demo = app.launch(session, port=port, block=False)
    driver = start_driver(work / "profile")
    try:
        files = sorted(p for p in Path(args.photos).iterdir() if p.is_file())
        upload_and_reconstruct(driver, f"http://127.0.0.1:{port}/", files, timeout=300)
        at = tuple(float(v) for v in args.at.split(","))
        print(select_and_click(driver, args.view, files[args.view].stem, timeout=120, at=at))
        time.sleep(3)  # let the 3D viewers draw
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1400, min(max(height + 100, 1200), 4000))
        time.sleep(1)
        driver.save_screenshot(args.out)
    finally:
        driver.quit()
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
