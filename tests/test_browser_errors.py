"""Why it errs, in a real browser: Compare with two stored runs, a click on a confusion-matrix
cell picks that cell, and its test images show with their captions (screenshots in
tests/artifacts/). The oracle is the run's own confusion matrix in the store."""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pytest

from tests.browser import SHOTS, browser_page, shot, streamlit_server, wait_idle
from tests.page_helpers import make_old
from tlcore.config import RunConfig

pytestmark = pytest.mark.slow

# font digits -> real MNIST (28 px, so the thumbnails are enlarged x4), 5 labels per class
BASE = RunConfig(backbone="lab_synth_digits", dataset="mnist", labels_per_class=5, val_per_class=5,
                 test_per_class=20, epochs=3)


def _train(data_dir) -> list[str]:
    from tlcore.jobs import execute
    from tlcore.runs import Store

    store = Store(data_dir)
    ids = []
    for strategy in ("feature_extraction", "finetune_all"):
        rid, _ = store.submit(BASE.replace(strategy=strategy))
        execute(store, rid)
        assert store.get(rid).status == "done", store.get(rid).message
        ids.append(rid)
    return ids


def _second_commonest_mistake(cm: np.ndarray) -> tuple[int, int]:
    """Not the cell the page picks by itself (the commonest mistake), so the click shows."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")
    t, p = np.unravel_index(order[1], cm.shape)
    assert off[t, p] > 0
    return int(t), int(p)


def _thumbnails(page) -> list[dict]:
    """Every thumbnail on the page in order (the cell's first, then the top losses): caption
    and natural width of each."""
    return page.evaluate("""() =>
        [...document.querySelectorAll('[data-testid="stImageContainer"]')].map(e => ({
            caption: e.innerText.replace(/\u00a0/g, ' ').trim(),
            width: e.querySelector('img').naturalWidth}))""")


def test_clicking_a_cell_shows_its_images(tmp_path):
    from tlcore.runs import Store

    data = tmp_path / "data"
    ids = _train(data)
    rec = Store(data).get(ids[0])
    names, cm = rec.metrics["class_names"], np.array(rec.metrics["confusion"])
    t, p = _second_commonest_mistake(cm)
    with streamlit_server(data) as url, browser_page() as page:
        page.goto(f"{url}/compare?runs={','.join(ids)}")
        page.get_by_text("Which images it gets wrong").wait_for(timeout=120_000)
        wait_idle(page)
        chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="source test (")
        chart.scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        box = chart.locator(".nsewdrag").first.bounding_box()
        k = len(names)  # cells are equal; rows run top to bottom (y axis reversed)
        page.mouse.click(box["x"] + (p + 0.5) * box["width"] / k,
                         box["y"] + (t + 0.5) * box["height"] / k)
        plural = "s" if cm[t, p] != 1 else ""
        heading = f"{cm[t, p]} image{plural} of class {names[t]} predicted as {names[p]}"
        page.get_by_text(heading).wait_for(timeout=60_000)
        wait_idle(page)
        n = min(cm[t, p], 24)
        wrong = int(cm.sum() - np.trace(cm))
        # the heading can draw before the galleries below it (under load, by seconds): wait
        # until both galleries are there and loaded, then count them exactly
        page.wait_for_function(
            """want => { const im = [...document.querySelectorAll('[data-testid="stImage"] img')];
                         return im.length >= want && im.every(i => i.complete && i.naturalWidth > 0); }""",
            arg=int(n + min(wrong, 12)), timeout=60_000)
        every = _thumbnails(page)
        thumbs, top = every[:n], every[n:]
        assert len(top) == min(wrong, 12), every
        assert all(th["caption"].startswith(f"true {names[t]} (") and f"→ {names[p]} (" in
                   th["caption"] for th in thumbs), thumbs
        assert {th["width"] for th in thumbs} == {112}  # 28 px MNIST enlarged x4, crisp
        boxes = page.evaluate("""() => Object.fromEntries(
            [...document.querySelectorAll('[data-testid="stSelectbox"]')].map(e => [
                e.querySelector('label').innerText.trim(),
                (e.querySelector('input') || {}).value ||
                e.querySelector('[data-baseweb="select"]').innerText.trim()]))""")
        assert boxes["True class"] == names[t] and boxes["Predicted as"] == names[p], boxes
        # pick another cell by hand, then click the first one again: the click must still count
        # (a chart keeps its old selection otherwise, and clicking it again would change nothing)
        other = (t + 1) % k
        page.get_by_test_id("stSelectbox").filter(has_text="True class").click()
        page.get_by_role("option", name=names[other], exact=True).click()
        page.get_by_text(heading).wait_for(state="detached", timeout=60_000)
        wait_idle(page)
        chart.scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        box = chart.locator(".nsewdrag").first.bounding_box()
        page.mouse.click(box["x"] + (p + 0.5) * box["width"] / k,
                         box["y"] + (t + 0.5) * box["height"] / k)
        page.get_by_text(heading).wait_for(timeout=60_000)
        wait_idle(page)
        section = page.get_by_text("Which images it gets wrong")
        section.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "compare_errors_cell.png"))  # the section, as seen
        shot(page, "compare_errors")  # the whole page

        # the model download runs the export only now, on the click, and hands over a zip
        page.get_by_test_id("stRadio").filter(has_text="Model format").get_by_text(
            "TorchScript").click()
        wait_idle(page)
        page.get_by_role("button", name="Prepare model (TorchScript, zip)").click()
        wait_idle(page)
        button = page.get_by_role("button", name="Download model (TorchScript, zip)")
        button.scroll_into_view_if_needed()
        with page.expect_download(timeout=120_000) as download:
            button.click()
        assert download.value.suggested_filename == f"transfer-lab-{ids[0]}-torchscript.zip"
        with zipfile.ZipFile(download.value.path()) as z:
            assert sorted(z.namelist()) == ["model.pt", "model_card.json"]
            assert json.loads(z.read("model_card.json"))  # a card that parses

        # the other run, made to look stored before runs kept models and answers
        make_old(Store(data), ids[1])
        run_box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Run", exact=True))
        run_box.scroll_into_view_if_needed()
        run_box.click()
        try:
            page.get_by_role("option", name=re.compile("Fine-tune all")).click(timeout=10_000)
        except Exception:
            page.screenshot(path=str(SHOTS / "debug_errors.png"))
            raise
        page.get_by_text("stored before runs kept their models").wait_for(timeout=60_000)
        wait_idle(page)
        assert page.get_by_role("button", name="Re-run it").is_visible()
        assert page.get_by_text("This run kept no model").is_visible()
        page.get_by_text("Which images it gets wrong").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "compare_errors_old_run.png"))

        # the Train page's history: each run's model size and the store's size on disk
        page.goto(f"{url}/train")
        sizes = page.get_by_text(re.compile(r"2 runs in workspace .* on disk\."))
        sizes.wait_for(timeout=60_000)
        wait_idle(page)
        sizes.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "train_history_sizes.png"))
