"""The per-session queue cap (``TLAB_QUEUE_CAP``): a click that would put more runs in
the queue than the cap queues none and says why; a grid larger than the cap is fed in as
its runs are taken, never holding more than the cap in the queue."""

from __future__ import annotations

from tests.page_helpers import SETUP, open_page
from tlcore.runs import Store


def _no_worker(monkeypatch, cap: int) -> None:
    import ui.store

    monkeypatch.setenv("TLAB_QUEUE_CAP", str(cap))
    monkeypatch.setattr(ui.store, "ensure_worker", lambda store: None)  # queued, not trained


def test_more_runs_than_the_cap_queue_none_and_the_page_says_why(tmp_path, monkeypatch):
    _no_worker(monkeypatch, 2)
    at = open_page(tmp_path, monkeypatch, "app_pages/train.py", SETUP)
    at.multiselect(key="train_seeds").set_value([0, 1, 2]).run()
    at.button(key="train_queue").click().run()
    assert not at.exception
    assert any("would queue 3 runs" in e.value and "2 waiting at once" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert Store(tmp_path).count() == 0
    at.multiselect(key="train_seeds").set_value([0, 1]).run()
    at.button(key="train_queue").click().run()
    assert Store(tmp_path).counts() == {"queued": 2}


def test_a_grid_larger_than_the_cap_is_fed_in_as_runs_are_taken(tmp_path, monkeypatch):
    _no_worker(monkeypatch, 3)
    at = open_page(tmp_path, monkeypatch, "app_pages/experiments.py", SETUP)
    at.multiselect(key="exp_ks").set_value([1, 5]).run()  # 2 budgets x 3 strategies x 1 seed
    at.multiselect(key="exp_seeds").set_value([0]).run()
    at.button(key="exp_budget_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    store = Store(tmp_path)
    assert store.counts() == {"queued": 3}
    assert any("3 wait for room in the queue" in p.proto.text for p in at.get("progress")), \
        [p.proto.text for p in at.get("progress")]
    for _ in range(2):  # a worker takes two and finishes them
        rid = store.claim_next()
        store.finish(rid, "done", metrics={"test_accuracy": 0.5}, seconds=1.0)
    at.run()  # the page's poll tops the queue up again, to the cap
    assert store.counts() == {"queued": 3, "done": 2}
    for _ in range(3):
        rid = store.claim_next()
        store.finish(rid, "done", metrics={"test_accuracy": 0.5}, seconds=1.0)
    at.run()
    assert store.counts() == {"queued": 1, "done": 5}
    assert not at.session_state["exp_budget_pending"]
