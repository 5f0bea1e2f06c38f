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


def _wait_for_answer(page, store_dir, timeout_s: float = 480) -> None:
    """Wait for the winner sentence. If every run is done in the store but the live view
    has not shown it within a minute (the browser's fragment polling can stall on a loaded
    machine), reload once: the results must then come straight from the store."""
    import time

    from tlcore.runs import FINAL, Store

    answer = page.get_by_text(re.compile(r"won with|Within noise"))
    deadline = time.time() + timeout_s
    all_done_at = None
    while time.time() < deadline:
        if answer.count():
            return
        recs = Store(store_dir).list()
        if len(recs) >= 3 and all(r.status in FINAL for r in recs):
            all_done_at = all_done_at or time.time()
            if time.time() - all_done_at > 60:
                print("live view stalled after the runs finished; reloading")
                page.reload()
                answer.wait_for(timeout=60_000)
                return
        page.wait_for_timeout(1000)
    answer.wait_for(timeout=1)


def test_classic_comparison_then_compare_and_embeddings(tmp_path):
    with streamlit_server(tmp_path / "data") as url, browser_page() as page:
        page.goto(url)
        page.get_by_role("heading", name="Transfer Lab").wait_for(timeout=60_000)
        wait_idle(page)
        shot(page, "home")

        page.get_by_role("button", name="Run the classic comparison").click()
        # the three runs train in the background worker; the page polls the store
        _wait_for_answer(page, tmp_path / "data")
        wait_idle(page)
        # Streamlit replaces elements as a rerun redraws them: poll, don't read once
        page.wait_for_function(
            """() => ["From scratch", "Feature extraction", "Fine-tune all", "test accuracy"]
                     .every(n => document.body.innerText.includes(n))""", timeout=60_000)
        # three curves: one plotly line per run in the learning-curve chart (plotly draws
        # its SVG after Streamlit finishes, so poll for the legend rather than read it once)
        names = ["From scratch", "Feature extraction", "Fine-tune all"]
        page.wait_for_function(
            """names => { const t = [...document.querySelectorAll('.js-plotly-plot .legendtext')]
                          .map(e => e.textContent); return names.every(n => t.includes(n)); }""",
            arg=names, timeout=60_000)
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


def test_two_sessions_share_one_store_without_mixing(tmp_path):
    """Two browser sessions with different setups run the classic comparison at the same
    time on one server: each sees its own results, the store holds all six runs once."""
    from tests.browser import browser_pages
    from tlcore.runs import Store

    small = "labels_per_class={k}&epochs=2&test_per_class=20&val_per_class=5&backbone=lab_mnist&dataset=digits"
    with streamlit_server(tmp_path / "data") as url, browser_pages(2) as (a, b):
        a.goto(f"{url}/?{small.format(k=3)}")
        b.goto(f"{url}/?{small.format(k=6)}")
        for page in (a, b):
            page.get_by_role("button", name="Run the classic comparison").wait_for(timeout=60_000)
        a.get_by_role("button", name="Run the classic comparison").click()
        b.get_by_role("button", name="Run the classic comparison").click()
        for page, k in ((a, 3), (b, 6)):
            _wait_for_answer(page, tmp_path / "data")
            assert f"{k} labels per class" in page.inner_text("body")
        shot(b, "two_sessions")
    store = Store(tmp_path / "data")
    recs = store.list()
    assert len(recs) == 6 and all(r.status == "done" for r in recs)
    assert sorted(r.config.labels_per_class for r in recs) == [3, 3, 3, 6, 6, 6]
    assert all(len(store.get(r.id).history) == 2 for r in recs)
    assert store.integrity_ok()


def test_domain_adaptation_page_runs_a_study_and_draws_it(tmp_path):
    """The Domain adaptation page on a small shifted digits pair from a link: run every
    method, then the summary, what the label-free criteria say, the curves and the
    embeddings over epochs appear."""
    from urllib.parse import urlencode

    from tests.page_helpers import PAIR
    from tlcore.transfer.adapt_study import METHODS
    from tlcore.transfer.criteria_study import CANDIDATES
    from tlcore.urlstate import config_to_params

    with streamlit_server(tmp_path / "data") as url, browser_page() as page:
        page.goto(f"{url}/adapt?{urlencode(config_to_params(PAIR))}")
        page.get_by_role("heading", name="Domain adaptation").wait_for(timeout=60_000)
        wait_idle(page)
        page.get_by_role("button", name=f"Run {len(METHODS)} runs").click()
        page.get_by_text("Embeddings over epochs").wait_for(timeout=480_000)
        wait_idle(page, timeout=240_000)
        assert not page.get_by_test_id("stException").count()
        page.wait_for_function(
            """() => ["Source only", "AdaBN", "DANN", "CDAN+E", "Deep CORAL", "MCC", "Target oracle",
                      "target accuracy", "domain discriminator accuracy", "Without target labels",
                      "DEV"].every(n => document.body.innerText.includes(n))""",
            timeout=60_000)
        page.get_by_text(re.compile(r"Source only · epoch \d")).first.wait_for(timeout=240_000)
        assert page.locator(".js-plotly-plot").count() >= 4
        shot(page, "adapt")
        # auto reuses the study's runs with the same settings and trains the two other strengths
        page.get_by_role("button", name=f"Let auto pick ({len(CANDIDATES)} runs)").click()
        picked = page.get_by_text(re.compile(r"^auto picked "))
        picked.wait_for(timeout=480_000)
        wait_idle(page)
        picked.scroll_into_view_if_needed()
        assert not page.get_by_test_id("stException").count()
        assert page.get_by_text(re.compile(r"auto did not read them")).count()
        shot(page, "adapt_auto")


def _slider_to_min(page, label: str) -> None:
    box = page.get_by_test_id("stSlider").filter(has_text=label)
    box.get_by_role("slider").focus()
    page.keyboard.press("Home")
    wait_idle(page)


def test_experiments_page_runs_both_grids_with_small_budgets(tmp_path):
    """Label budget on a tiny setup from a link, then the Yosinski grid at its smallest
    budget: each fills its chart from the stored runs and says what it found."""
    from urllib.parse import urlencode

    from tests.page_helpers import SETUP
    from tlcore.urlstate import config_to_params

    with streamlit_server(tmp_path / "data") as url, browser_page() as page:
        page.goto(f"{url}/experiments?{urlencode(config_to_params(SETUP.replace(epochs=1)))}")
        page.get_by_role("heading", name="Experiments").wait_for(timeout=60_000)
        wait_idle(page)
        page.get_by_role("button", name=re.compile(r"Run the sweep")).click()
        page.get_by_text(re.compile(r"Crossover:|No crossover here")).wait_for(timeout=600_000)
        wait_idle(page)
        assert not page.get_by_test_id("stException").count()
        shot(page, "experiments_budget")

        page.get_by_role("tab", name="Yosinski lab").click()
        wait_idle(page)
        _slider_to_min(page, "Labels per class")
        _slider_to_min(page, "Epochs")
        page.get_by_role("button", name=re.compile(r"Run the grid \(17 runs\)")).click()
        page.get_by_text(re.compile(r"points below base|does not fall below base|stays at or above base|"
                                    r"falls below base at")).first.wait_for(timeout=600_000)
        wait_idle(page)
        assert not page.get_by_test_id("stException").count()
        shot(page, "experiments_yosinski")


def test_advisor_scores_advises_and_checks(tmp_path):
    """The advisor from a link: score, read the advice and grid, run the check, see
    predicted vs actual rankings and where the prediction was wrong (if it was)."""
    from urllib.parse import urlencode

    from tests.page_helpers import TASK
    from tlcore.urlstate import config_to_params

    with streamlit_server(tmp_path / "data") as url, browser_page() as page:
        page.goto(f"{url}/advisor?{urlencode(config_to_params(TASK))}")
        page.get_by_role("heading", name="Strategy advisor").wait_for(timeout=60_000)
        wait_idle(page)
        page.get_by_role("button", name="Score and advise").click()
        page.get_by_text("Backbones ranked by transferability").wait_for(timeout=300_000)
        wait_idle(page)
        page.get_by_role("button", name=re.compile(r"Run \d+ runs and compare")).click()
        page.get_by_text(re.compile(r"prediction was right|Where the \w+ prediction was wrong")).first.wait_for(
            timeout=600_000)
        wait_idle(page)
        assert not page.get_by_test_id("stException").count()
        assert "Kendall's tau" in page.inner_text("body")
        shot(page, "advisor")
