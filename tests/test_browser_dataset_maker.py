"""Make a 2-class dataset in a real browser: classes typed in, images drawn on the canvas
with mouse moves, taken with Chromium's fake camera and uploaded as files; a bad sample
deleted; a reload loses nothing; then the dataset is built, picked as source and target,
offered on another page, downloaded, and photographed (tests/artifacts/)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser import FAKE_CAMERA, browser_page, shot, streamlit_server, wait_idle

pytestmark = pytest.mark.slow

HEADING = "Make your own dataset"


def _circles(folder, n: int) -> list[str]:
    paths = []
    for i in range(n):
        im = Image.new("RGB", (48, 48), "white")
        r = 8 + 2 * i
        ImageDraw.Draw(im).ellipse((24 - r, 24 - r, 24 + r, 24 + r), outline="black", width=3)
        paths.append(str(folder / f"circle{i}.png"))
        im.save(paths[-1])
    return paths


def _count(page, name: str, n: int) -> None:
    """Wait until the class card says ``name · n image(s)`` (a rerun redraws it)."""
    page.wait_for_function(
        "([name, n]) => document.body.innerText.includes(`${name} · ${n} image`)",
        arg=[name, n], timeout=120_000)  # a photo is uploaded, then the page reruns: slow under load


def _photo(page, name: str, n: int) -> None:
    """Take one photo so that class ``name`` ends with ``n`` images. Each photo remounts the
    camera (a new widget key), and a click on the new one before its stream is ready takes
    no photo: react-webcam's getScreenshot returns null and nothing is sent (CI, stop 19).
    So a click that neither counts nor shows a taken photo ("Clear photo") is clicked
    again; one that did take a photo never is, so no photo is counted twice."""
    taken = """([name, n]) => document.body.innerText.includes(`${name} · ${n} image`)
        || [...document.querySelectorAll('[data-testid="stCameraInput"] button')]
             .some(b => b.innerText.includes('Clear photo'))"""
    for _ in range(4):
        page.wait_for_function("""() => { const v = document.querySelector(
            '[data-testid="stCameraInput"] video'); return v && v.readyState >= 2
            && v.videoWidth > 0; }""", timeout=60_000)
        page.wait_for_timeout(500)
        page.get_by_role("button", name="Take Photo").click(timeout=60_000)
        try:
            page.wait_for_function(taken, arg=[name, n], timeout=20_000)
            break
        except PlaywrightTimeout:
            continue
    _count(page, name, n)


def _text(page, text: str) -> None:
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=60_000)


def _draw(page, i: int) -> None:
    """One diagonal stroke on the drawing canvas (fabric.js listens on its upper canvas)."""
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for()
    page.wait_for_timeout(800)  # a fresh canvas mounts after the rerun that asked for it
    box = canvas.bounding_box()
    x, y = box["x"] + 30 + 12 * i, box["y"] + 30
    page.mouse.move(x, y)
    page.mouse.down()
    for k in range(1, 21):
        page.mouse.move(x + 9 * k, y + 9 * k - 3 * i)
    page.mouse.up()
    page.wait_for_timeout(500)
    wait_idle(page)


def _open_maker(page, url: str) -> None:
    page.goto(f"{url}/data")
    page.get_by_role("heading", name=HEADING).wait_for(timeout=120_000)
    wait_idle(page, timeout=120_000)


def test_make_a_dataset_in_the_app(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    circles = _circles(files, 6)
    data_dir = tmp_path / "data"
    with streamlit_server(data_dir) as url, \
            browser_page(height=1000, extra_args=FAKE_CAMERA) as page:
        _open_maker(page, url)
        _text(page, "Start with New dataset")
        page.get_by_role("button", name="New dataset").click()
        page.get_by_label("Name", exact=True).fill("Shapes")
        page.get_by_role("button", name="Create").click()
        wait_idle(page)
        _text(page, "you have none yet")
        for name in ("circle", "cross", "circle"):
            page.get_by_label("New class").fill(name)
            page.get_by_role("button", name="Add class").click()
            wait_idle(page)
        _text(page, "there is already a class called 'circle'")  # refused, with the reason
        _text(page, "'cross' has no images yet: add at least 5")
        assert page.get_by_role("button", name="Make it a dataset").is_disabled()

        # drawings go to the class just added (cross); an empty canvas is refused
        page.get_by_text("Drawing", exact=True).click()
        wait_idle(page)
        page.locator("canvas.upper-canvas").first.wait_for()
        page.wait_for_timeout(800)
        page.get_by_role("button", name="Add this drawing").click()
        wait_idle(page)
        _text(page, "the drawing is empty")
        for i in range(3):
            _draw(page, i)
            page.get_by_role("button", name="Add this drawing").click()
            _count(page, "cross", i + 1)
            wait_idle(page)

        # the fake camera: wait for its stream before each photo
        page.get_by_text("Camera", exact=True).click()
        wait_idle(page)
        for i in range(2):
            _photo(page, "cross", 4 + i)
            wait_idle(page)

        # files, many at once, into the other class; then a bad one deleted
        page.get_by_label("to class").click()
        page.get_by_role("option", name="circle").click()
        wait_idle(page)
        page.get_by_text("Files", exact=True).click()
        wait_idle(page)
        page.get_by_test_id("stFileUploaderDropzoneInput").last.set_input_files(circles[:5])
        _count(page, "circle", 5)
        wait_idle(page)
        page.locator('[class*="st-key-dm_del_c1_"] button').first.click()
        _count(page, "circle", 4)
        wait_idle(page)
        _text(page, "'circle' has 4 images: add 1 more")
        shot(page, "dataset_maker_building")

        page.reload()  # samples live on disk, not in the session
        page.get_by_role("heading", name=HEADING).wait_for(timeout=120_000)
        wait_idle(page)
        _count(page, "circle", 4)
        _count(page, "cross", 5)
        page.get_by_text("Files", exact=True).click()
        wait_idle(page)
        page.get_by_label("to class").click()
        page.get_by_role("option", name="circle").click()
        wait_idle(page)
        page.get_by_test_id("stFileUploaderDropzoneInput").last.set_input_files(circles[5:])
        _count(page, "circle", 5)
        wait_idle(page)

        page.get_by_role("button", name="Make it a dataset").click()
        wait_idle(page)
        _text(page, "is a dataset and now the source: 10 images (circle 5, cross 5)")
        wait_idle(page)
        source = page.get_by_test_id("stSelectbox").first  # the Source picker
        shown = source.evaluate("e => e.innerText + ' ' + [...e.querySelectorAll('input')]"
                                ".map(i => i.value).join(' ')")
        assert "Shapes, made in the app (10 images)" in shown, shown
        _text(page, "Source: Shapes, made in the app")  # the preview of what a run will see
        shot(page, "dataset_maker")

        page.get_by_role("button", name="Prepare a zip of class folders").click()
        with page.expect_download() as dl:
            page.get_by_role("button", name="Download as zip of class folders").click(timeout=60_000)
        zipped = (tmp_path / "export.zip")
        dl.value.save_as(zipped)

        # the target picker offers it too
        page.get_by_text("Also test on a target domain").click()
        wait_idle(page)
        _text(page, "The target is the source itself")

        # and another page lists it
        page.get_by_test_id("stSidebarNav").get_by_text("Domain adaptation", exact=True).click()
        wait_idle(page, timeout=120_000)
        assert not page.get_by_test_id("stException").count()
        _text(page, "Shapes, made in the app")

    uploads = sorted((data_dir / "uploads").glob("*.zip"))
    assert len(uploads) == 1
    info = json.loads(uploads[0].with_suffix(".json").read_text())
    assert info["classes"] == ["circle", "cross"] and info["counts"] == [5, 5]
    assert [c["from"] for c in info["made"]["classes"]] == [
        {"camera": 0, "drawing": 0, "upload": 5}, {"camera": 2, "drawing": 3, "upload": 0}]
    data = zipped.read_bytes()
    assert hashlib.sha256(data).hexdigest() == info["sha256"]  # the download is the dataset
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        drawing = [n for n in zf.namelist() if "-drawing-" in n][0]
        px = np.asarray(Image.open(io.BytesIO(zf.read(drawing))))
    assert px.min() < 50 and px.max() > 200  # a black stroke on white, not an empty canvas
