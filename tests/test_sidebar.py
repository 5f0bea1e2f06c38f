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
