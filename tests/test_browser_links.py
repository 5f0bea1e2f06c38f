"""Links restore the setup on every page: walk the sidebar with a non-default setup on an
uploaded zip, reload each page and open each page's URL in a fresh browser context; the
setup comes back every time, and the upload is shown by its file name, never its stored
path or hash (the Copy link box, which holds the URL itself, and provenance expanders,
which list files and checksums on purpose, aside)."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

from tests.browser import browser_pages, shot, streamlit_server, wait_idle

pytestmark = pytest.mark.slow

PAGES = ["Data", "Model", "Train", "Compare", "Try it", "Embeddings", "Domain adaptation",
         "Strategy advisor", "Experiments", "Lessons", "Home"]


def _zip() -> bytes:
    """Three classes of 40 flat-colour-ish 32 px images, enough for 3 labels per class."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for c, colour in enumerate(("red", "green", "blue")):
            for i in range(40):
                a = np.zeros((32, 32, 3), np.uint8)
                a[..., c] = 120 + rng.integers(0, 120)
                a[rng.integers(0, 24):, rng.integers(0, 24):] //= 2
                out = io.BytesIO()
                Image.fromarray(a).save(out, format="PNG")
                z.writestr(f"{colour}/{i}.png", out.getvalue())
    return buf.getvalue()


def _visible_text(page) -> str:
    """The page's text without the Copy link box (it holds the URL on purpose) and the
    details expanders (provenance: where files and checksums are asked for)."""
    return page.evaluate(
        """() => { const c = document.body.cloneNode(true);
                   c.querySelectorAll('[data-testid="stCode"], [data-testid="stExpander"]')
                    .forEach(e => e.remove());
                   return c.innerText; }""")


def _check(page, what: str, sha: str) -> None:
    try:  # the URL is rewritten during the page's script run: a slow page writes it late
        page.wait_for_function("() => location.search.includes('labels_per_class=3')", timeout=60_000)
    except Exception:  # noqa: BLE001 (the assertions below say what is wrong)
        pass
    params = parse_qs(urlsplit(page.url).query)
    assert params.get("labels_per_class") == ["3"], (what, page.url)
    assert params.get("epochs") == ["4"] and params.get("dataset") == [f"upload:{sha[:12]}"], (what, page.url)
    assert "uploads" not in page.url, page.url
    sidebar = page.get_by_test_id("stSidebarContent")
    sidebar.get_by_text("3 labels per class", exact=False).wait_for(timeout=30_000)
    assert "colours.zip (upload)" in sidebar.inner_text(), what
    text = _visible_text(page)
    assert sha not in text and sha[:16] not in text and "uploads/" not in text, what


def test_every_page_keeps_the_setup_in_its_link(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("TLAB_DATA_DIR", str(data))
    from tlcore.preview import ingest_upload

    path, _ = ingest_upload(_zip(), "colours.zip")
    sha = urlsplit(path).path.rsplit("/", 1)[-1].removesuffix(".zip")
    with streamlit_server(data) as url, browser_pages(2) as (page, fresh):
        from urllib.parse import urlencode

        page.goto(f"{url}/?{urlencode({'dataset': path, 'labels_per_class': 3, 'epochs': 4})}")
        wait_idle(page, timeout=120_000)
        for name in PAGES:
            page.get_by_test_id("stSidebarNav").get_by_text(name, exact=True).click()
            page.wait_for_timeout(800)
            wait_idle(page, timeout=120_000)
            _check(page, f"{name} after sidebar navigation", sha)
            link = page.url
            page.reload()
            wait_idle(page, timeout=120_000)
            _check(page, f"{name} after reload", sha)
            fresh.goto(link)
            wait_idle(fresh, timeout=120_000)
            _check(fresh, f"{name} in a fresh browser context", sha)
        shot(page, "links_home")
