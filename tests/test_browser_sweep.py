"""The Sweep tab in a real browser: a TPE search started from the page runs in its driver
process, the page follows it live and draws the trials and the best once it is done
(screenshot: tests/artifacts/sweep_tpe.png)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from tests.browser import browser_page, shot, streamlit_server, wait_idle

pytestmark = pytest.mark.slow


def test_a_tpe_sweep_started_in_the_page_fills_its_plot_live(tmp_path):
    from tests.page_helpers import SETUP
    from tlcore.urlstate import config_to_params

    cfg = SETUP.replace(strategy="finetune_top", epochs=1)
    with streamlit_server(tmp_path / "data") as url, browser_page() as page:
        page.goto(f"{url}/experiments?{urlencode(config_to_params(cfg))}")
        page.get_by_role("heading", name="Experiments").wait_for(timeout=60_000)
        wait_idle(page)
        page.get_by_role("tab", name="Sweep").click()
        wait_idle(page)
        page.get_by_text("TPE: each point from the scores so far").click()
        wait_idle(page)
        points = page.get_by_label("Points")
        points.fill("2")
        points.press("Enter")
        wait_idle(page)
        page.get_by_role("button", name=re.compile(r"Start the sweep \(2 trials")).click()
        page.get_by_text(re.compile(r"Best so far by val_accuracy")).wait_for(timeout=300_000)
        page.get_by_text(re.compile(r"trials finished")).wait_for(state="detached", timeout=300_000)
        wait_idle(page)
        assert not page.get_by_test_id("stException").count()
        shot(page, "sweep_tpe")
