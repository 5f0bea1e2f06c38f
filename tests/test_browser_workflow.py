"""The workflow diagram in a real browser at a laptop's width: it fits the column, its
links are not underlined text, and a click on a box opens that page with the setup kept.

Saves ``tests/artifacts/workflow.png`` (the diagram alone: the README's picture) and
``workflow_home.png`` / ``workflow_clicked.png`` (the page around it, and after the click).
"""

from __future__ import annotations

import re

import pytest

from tests.browser import SHOTS, browser_page, shot, streamlit_server, wait_idle

pytestmark = pytest.mark.slow

# a setup with frozen and trainable groups, so the picture shows both colours
QUERY = "strategy=finetune_top&labels_per_class=5"


def test_home_workflow_diagram_links_to_the_data_page_with_the_setup(tmp_path):
    with streamlit_server(tmp_path / "data") as url, browser_page(width=1280, height=900) as page:
        page.goto(f"{url}/?{QUERY}")
        run = page.get_by_role("button", name="Run the classic comparison")
        run.wait_for(timeout=60_000)
        y_before = run.bounding_box()["y"]  # a fresh server: a box of the diagram's size first
        diagram = page.locator(".tl-workflow svg")
        diagram.wait_for(timeout=60_000)  # then the diagram, with no click (a fragment's timer)
        wait_idle(page)
        assert abs(run.bounding_box()["y"] - y_before) <= 8, "the Run button jumped when the diagram came"
        diagram.scroll_into_view_if_needed()
        box = diagram.bounding_box()
        column = page.get_by_test_id("stMainBlockContainer").bounding_box()
        assert 700 <= box["width"] <= column["width"], (
            box,
            column,
        )  # fills the column, no overflow
        assert page.evaluate("""() => [...document.querySelectorAll('.tl-workflow a')].every(
            a => getComputedStyle(a).textDecorationLine === 'none')""")
        texts = page.locator(".tl-workflow").inner_text()
        for fragment in (
            "Pretrained backbone: lab_synth_digits",
            "mnist · 5 labels per class",
            "3 of 4 stay frozen",
            "Fine-tune top k",
        ):
            assert fragment in texts, fragment
        SHOTS.mkdir(parents=True, exist_ok=True)
        diagram.screenshot(path=str(SHOTS / "workflow.png"))
        shot(page, "workflow_home")

        page.locator('.tl-workflow a[data-step="data"]').click()
        page.wait_for_url(re.compile(r"/data\?"), timeout=60_000)
        page.get_by_role("heading", name="Data", exact=True).wait_for(timeout=60_000)
        wait_idle(page)
        assert "strategy=finetune_top" in page.url and "labels_per_class=5" in page.url
        # the new page's session restored the setup from the link
        page.get_by_test_id("stSidebar").get_by_text(
            re.compile(r"5 labels per class · strategy")
        ).wait_for(timeout=30_000)
        assert "finetune_top" in page.get_by_test_id("stSidebar").inner_text()
        shot(page, "workflow_clicked")
