"""End to end in a real browser: serve the app, run the classic comparison, check Compare
and Embeddings, and keep screenshots of every page (tests/artifacts/)."""

from __future__ import annotations

import re

import pytest

from tests.browser import browser_page, shot, streamlit_server, wait_idle

pytestmark = pytest.mark.slow


def _goto(page, name: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(name, exact=True).click()
    page.wait_for_timeout(800)
    wait_idle(page, timeout=180_000)


def test_classic_comparison_then_compare_and_embeddings(tmp_path):
    with streamlit_server(tmp_path / "data") as url, browser_page() as page:
        page.goto(url)
        page.get_by_role("heading", name="Transfer Lab").wait_for(timeout=60_000)
        wait_idle(page)
        shot(page, "home")

        page.get_by_role("button", name="Run the classic comparison").click()
        # the three runs train in the background worker; the page polls the store
        page.get_by_text(re.compile(r"won with|A tie")).wait_for(timeout=300_000)
        wait_idle(page)
        text = page.inner_text("body")
        for name in ("From scratch", "Feature extraction", "Fine-tune all"):
            assert name in text
        # three curves: one plotly line per run in the learning-curve chart
        legend = page.locator(".js-plotly-plot .legendtext").evaluate_all("els => els.map(e => e.textContent)")
        assert {"From scratch", "Feature extraction", "Fine-tune all"} <= set(legend), legend
        shot(page, "home_result")

        for name in ("Data", "Model", "Train"):
            _goto(page, name)
            assert not page.get_by_test_id("stException").count(), name
            shot(page, name.lower())

        _goto(page, "Compare")
        assert not page.get_by_test_id("stException").count()
        page.get_by_text("Final results").wait_for()
        assert page.locator(".js-plotly-plot").count() >= 2
        assert "Fine-tune all" in page.inner_text("body")
        shot(page, "compare")

        _goto(page, "Embeddings")
        assert not page.get_by_test_id("stException").count()
        page.get_by_text(re.compile("UMAP", re.I)).first.wait_for(timeout=180_000)
        wait_idle(page, timeout=240_000)
        assert page.locator(".js-plotly-plot").count() >= 1
        shot(page, "embeddings")
