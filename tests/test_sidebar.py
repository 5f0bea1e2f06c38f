"""The sidebar's run counts come from the store on every draw (and poll while the app is
open), so runs queued by the page below it or by another session are counted."""

from __future__ import annotations

from tests.engine_helpers import TINY
from tests.page_helpers import app_for
from tlcore.runs import Store


def test_counts_name_running_and_queued_runs(tmp_path, monkeypatch):
    store = Store(tmp_path)
    at = app_for(tmp_path, monkeypatch)
    at.run()
    assert any("0 runs stored · none running" in c.value for c in at.sidebar.caption)
    store.submit(TINY)
    rid, _ = store.submit(TINY.replace(seed=1))
    store.claim(rid)
    at.run()
    assert any("2 runs stored · 1 running · 1 queued" in c.value for c in at.sidebar.caption), \
        [c.value for c in at.sidebar.caption]


def test_counts_poll_only_while_runs_are_queued_or_running():
    from ui.sidebar import POLL_S, poll_every

    assert poll_every({}) is None and poll_every({"done": 40, "failed": 2}) is None
    assert poll_every({"done": 3, "queued": 1}) == POLL_S == poll_every({"running": 1})


def test_runs_a_page_queues_are_counted_in_the_same_draw(tmp_path, monkeypatch):
    """The counts are drawn after the page: a click that queues runs shows them at once,
    not at the next poll (there is none while the store is idle)."""
    import ui.store
    from tests.page_helpers import open_page

    monkeypatch.setattr(ui.store, "ensure_worker", lambda store: None)  # queued, not trained
    at = open_page(tmp_path, monkeypatch, "app_pages/train.py", TINY)
    assert any("none running" in c.value for c in at.sidebar.caption)
    at.button(key="train_queue").click().run()
    assert not at.exception
    n = len(Store(tmp_path).list())
    assert n >= 1 and any(f"{n} runs stored · 0 running · {n} queued" in c.value for c in at.sidebar.caption), \
        [c.value for c in at.sidebar.caption]
