"""AppTest for the Home and Train pages: they render, and their controls produce configs."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.page_helpers import APP, open_page
from tlcore.compare import classic_comparison
from tlcore.config import RunConfig
from tlcore.jobs import execute
from tlcore.runs import Store


@pytest.fixture
def app(tmp_data_dir):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_home_renders_with_the_classic_comparison_button(app):
    assert app.title[0].value == "Transfer Lab"
    assert any(b.label == "Run the classic comparison" for b in app.button)
    assert any("Not run yet" in i.value for i in app.info)


def test_home_shows_stored_results_at_once(tmp_data_dir):
    """A configuration already run shows its results from the store, no training."""
    base = RunConfig(backbone="lab_mnist", dataset="digits", labels_per_class=5, val_per_class=5,
                     test_per_class=10, epochs=2)
    store = Store(tmp_data_dir)
    for cfg in classic_comparison(base):
        rid, _ = store.submit(cfg)
        execute(store, rid)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"backbone": "lab_mnist", "dataset": "digits", "labels_per_class": "5",
                            "val_per_class": "5", "test_per_class": "10", "epochs": "2"})
    at.run()
    assert not at.exception
    assert at.session_state["tl_setup"] == base
    assert any("won with" in s.value or "Within noise" in s.value for s in at.success)


def test_bad_url_values_fall_back_with_a_notice(tmp_data_dir):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"epochs": "-3", "lr": "banana"})
    at.run()
    assert not at.exception
    assert at.session_state["tl_setup"].epochs == RunConfig().epochs
    assert len(at.warning) >= 2


def test_train_page_controls_change_the_setup(app):
    app.switch_page("app_pages/train.py").run()
    assert not app.exception, app.exception
    app.slider(key="train_epochs").set_value(7).run()
    app.multiselect(key="train_strategies").set_value(["finetune_top", "scratch"]).run()
    app.multiselect(key="train_seeds").set_value([1, 2]).run()
    cfg = app.session_state["tl_setup"]
    assert cfg.epochs == 7 and cfg.strategy == "finetune_top" and cfg.seed == 1
    assert any(b.label == "Queue 4 runs" for b in app.button)


def test_train_page_shows_interrupted_runs_and_offers_a_rerun(tmp_data_dir):
    """A run whose process died is shown as interrupted, with a button to run it again."""
    store = Store(tmp_data_dir)
    cfg = RunConfig(backbone="lab_mnist", dataset="digits", labels_per_class=3, epochs=1)
    rid, _ = store.submit(cfg)
    assert store.claim_next() == rid
    with store._conn() as c:  # as if a process that no longer exists had claimed it
        c.execute("UPDATE runs SET pid=? WHERE id=?", (2**22 + 12345, rid))
    assert Store(tmp_data_dir).get(rid).status == "interrupted"
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    history = at.dataframe[0].value
    assert "interrupted" in set(history["status"])
    rerun = [b for b in at.button if b.label.startswith("Re-run 1 interrupted")]
    assert rerun, [b.label for b in at.button]


def test_queue_is_disabled_with_the_reason_when_the_budget_cannot_fit(tmp_path, monkeypatch):
    """digits' smallest class has 174 images: 200 labels per class cannot fit after 10
    validation + 50 test images, so Queue is off and the page says the largest that fits."""
    from tlcore.config import RunConfig

    at = open_page(tmp_path, monkeypatch, "app_pages/train.py", RunConfig(dataset="digits", labels_per_class=200))
    assert at.button(key="train_queue").disabled
    assert any("Cannot queue" in w.value and "at most 114" in w.value for w in at.warning)
    at = open_page(tmp_path, monkeypatch, "app_pages/train.py", RunConfig(dataset="digits", labels_per_class=100))
    assert not at.button(key="train_queue").disabled


def test_a_target_strategy_without_a_target_falls_back_to_feature_extraction(tmp_path, monkeypatch):
    from tlcore.config import RunConfig

    at = open_page(tmp_path, monkeypatch, "app_pages/train.py", RunConfig(dataset="digits", strategy="dann"))
    assert at.multiselect(key="train_strategies").value == ["feature_extraction"]
    assert any("needs a target domain" in c.value for c in at.caption)
