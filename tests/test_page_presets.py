"""Presets on the pages (AppTest): the Domain adaptation page's MNIST -> MNIST-M setting
and a Lessons step, each pressed over an uploaded 9-class source. Each must list what it
changes before changing anything, apply exactly that, and Undo back to the previous setup
(and link) exactly."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.page_helpers import APP
from tlcore.config import RunConfig
from tlcore.lessons import load_all, setup_params
from tlcore.transfer import adapt_study as da
from tlcore.urlstate import config_from_params, config_to_params


def nine_class_zip() -> bytes:
    """Nine classes of 70 plain 8x8 PNGs (10 labels per class fit), one grey level each."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(9):
            img = io.BytesIO()
            Image.new("L", (8, 8), 25 * i).save(img, format="PNG")
            for j in range(70):
                zf.writestr(f"nine/c{i}/{j}.png", img.getvalue())
    return buf.getvalue()


def with_upload() -> AppTest:
    """The app after uploading the 9-class zip on the Data page, as a user does."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/data.py").run()
    at.file_uploader(key="data_upload").set_value(("nine.zip", nine_class_zip(), "application/zip")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("in 9 classes" in s.value for s in at.success)
    return at


def setup(at: AppTest) -> RunConfig:
    return at.session_state["tl_setup"]


def link(at: AppTest) -> dict[str, str]:
    return {k: at.query_params[k] for k in at.query_params if k in RunConfig.__dataclass_fields__}


def confirm_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown if "This will change" in m.value)


def check_undo(at: AppTest, key: str, before: RunConfig, before_link: dict[str, str]) -> None:
    at.button(key=f"{key}_undo").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert setup(at) == before  # exactly the setup from before the preset
    assert link(at) == before_link == config_to_params(before)  # and the link with it
    assert not [b for b in at.button if b.key == f"{key}_undo"]  # nothing left to undo


def test_adaptation_preset_over_an_upload_asks_applies_and_undoes(tmp_data_dir):
    at = with_upload()
    at.switch_page("app_pages/adapt.py").run()
    assert not at.exception, [e.value for e in at.exception]
    before, before_link = setup(at), link(at)
    assert Path(before.dataset).parent == tmp_data_dir / "uploads" and before.target is None
    assert "dataset" in before_link and before_link == config_to_params(before)  # the link names the upload

    at.button(key="da_classic").click().run()
    assert setup(at) == before  # pressing only asks
    text = confirm_text(at)
    for line in ("**source dataset**: nine\\.zip → MNIST", "**target domain**: none → MNIST\\-M",
                 "**labels per class**: 10 → 100", "**epochs**: 15 → 8", "**batch size**: 16 → 64",
                 "**learning rate**: 0\\.01 → 0\\.001", "**backbone LR multiplier**: 0\\.1 → 1"):
        assert line in text, (line, text)
    assert "strategy" not in text and "seed" not in text
    at.button(key="da_classic_cancel").click().run()
    assert setup(at) == before and not confirm_text(at)

    at.button(key="da_classic").click().run()
    at.button(key="da_classic_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    after = setup(at)
    assert after == da.DEFAULT.replace(strategy=before.strategy, seed=before.seed)
    assert link(at) == config_to_params(after) and link(at)["target"] == "mnist_m"
    assert any("Changed source dataset, target domain, labels per class and 4 more" in s.value
               for s in at.success)
    check_undo(at, "da_classic", before, before_link)


def test_a_lesson_step_over_an_upload_asks_applies_and_undoes(tmp_data_dir):
    at = with_upload()
    at.switch_page("app_pages/lessons.py").run()
    assert not at.exception, [e.value for e in at.exception]
    before, before_link = setup(at), link(at)
    lesson = load_all()[0]
    key = f"lesson_{lesson.slug}_1"
    at.button(key=key).click().run()
    assert setup(at) == before
    assert "**source dataset**: nine\\.zip → MNIST" in confirm_text(at)
    at.button(key=f"{key}_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    want, _ = config_from_params(setup_params(lesson.steps[0]))
    assert setup(at) == want.replace(strategy=before.strategy)
    check_undo(at, key, before, before_link)
    # an Undo is withdrawn once the user changes something else, so it never drops that change
    at.button(key=key).click().run()
    at.button(key=f"{key}_apply").click().run()
    at.session_state["tl_setup"] = setup(at).replace(epochs=3)
    at.run()
    assert not [b for b in at.button if b.key == f"{key}_undo"]


@pytest.mark.slow
def _params(url: str) -> dict:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query)


def test_in_a_browser_the_preset_lists_applies_and_undoes(tmp_path):
    """The real app in Chromium: upload, open Domain adaptation, press the preset, read
    the list, apply, undo; the link must be the upload's again. Screenshots go to
    tests/artifacts/presets_*.png."""
    from tests.browser import browser_page, shot, streamlit_server, wait_idle

    (tmp_path / "nine.zip").write_bytes(nine_class_zip())
    with streamlit_server(tmp_path / "data") as url, browser_page() as page:
        page.goto(f"{url}/data")
        page.get_by_role("heading", name="Data", exact=True).wait_for(timeout=60_000)
        page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(tmp_path / "nine.zip"))
        page.get_by_text("in 9 classes").wait_for(timeout=60_000)
        page.get_by_test_id("stSidebarNav").get_by_text("Domain adaptation", exact=True).click()
        page.get_by_role("heading", name="Domain adaptation").wait_for(timeout=60_000)
        wait_idle(page)
        before = page.url
        assert "dataset=" in before and "target=" not in before
        page.get_by_role("button", name="Use the MNIST → MNIST-M reproduction setting").click()
        page.get_by_text("This will change:").wait_for(timeout=30_000)
        wait_idle(page)
        box = page.locator(".st-key-da_classic_confirm")
        assert "nine.zip → MNIST" in box.inner_text() and _params(page.url) == _params(before)
        shot(page, "presets_confirm")
        box.get_by_role("button", name="Apply").click()
        page.get_by_text("Changed source dataset").wait_for(timeout=30_000)
        wait_idle(page)
        assert "target=mnist_m" in page.url
        shot(page, "presets_applied")
        page.get_by_role("button", name="Undo").click()
        page.get_by_text("Changed source dataset").wait_for(state="detached", timeout=30_000)
        wait_idle(page)
        assert _params(page.url) == _params(before)  # the same parameters (undo may reorder them)
        shot(page, "presets_undone")
        page.get_by_test_id("stSidebarNav").get_by_text("Lessons", exact=True).click()
        page.get_by_role("heading", name="Lessons").wait_for(timeout=60_000)
        page.get_by_role("button", name="Load this setup").first.click()
        page.get_by_text("This will change:").wait_for(timeout=30_000)
        wait_idle(page)
        assert _setup_params(page.url) == _setup_params(before)  # asking changes nothing
        shot(page, "presets_lesson_confirm")


def _setup_params(url: str) -> dict:
    """The setup's fields in a URL's query (a page may add its own, e.g. ``lesson=``)."""
    from urllib.parse import parse_qs, urlsplit

    fields = set(RunConfig.__dataclass_fields__)
    return {k: v for k, v in parse_qs(urlsplit(url).query).items() if k in fields}
