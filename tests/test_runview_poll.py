"""A live view's poll that finds nothing new costs next to nothing: the learning-curve
figure (16 of a poll's ~20 ms of server CPU, ``bench/bench_load.py``) is built again
only when an epoch is added or a run changes state."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.engine_helpers import TINY
from tlcore import plots
from tlcore.runs import Store

SCRIPT = """
from ui.runview import live
live({ids!r}, "poll")
"""


def test_the_curves_are_built_again_only_when_the_runs_change(tmp_path, monkeypatch):
    monkeypatch.setenv("TLAB_DATA_DIR", str(tmp_path))
    store = Store(tmp_path)
    ids = [store.submit(TINY.replace(seed=s))[0] for s in (0, 1)]
    store.claim(ids[0])
    store.add_epoch(ids[0], {"epoch": 1, "val_acc": 0.2, "train_loss": 2.0})
    built = []
    real = plots.curves
    monkeypatch.setattr(plots, "curves", lambda *a, **k: built.append(1) or real(*a, **k))
    at = AppTest.from_string(SCRIPT.format(ids=ids), default_timeout=60)
    at.run()
    at.run()  # a poll with nothing new
    assert not at.exception, [e.value for e in at.exception]
    assert len(built) == 1 and len(at.get("plotly_chart")) == 1
    store.add_epoch(ids[0], {"epoch": 2, "val_acc": 0.4, "train_loss": 1.5})
    at.run()
    assert len(built) == 2
    assert at.get("plotly_chart")[0].proto.spec.count("0.4") >= 1  # the new epoch is drawn


def test_a_poll_reads_again_only_the_runs_that_moved(tmp_path, monkeypatch):
    """Records are kept in the session: a poll asks the store for every run's state in one
    query and reads (config and epochs decoded) only the runs whose state changed."""
    monkeypatch.setenv("TLAB_DATA_DIR", str(tmp_path))
    store = Store(tmp_path)
    ids = [store.submit(TINY.replace(seed=s))[0] for s in (0, 1, 2)]
    store.claim(ids[0])
    read = []
    real = Store.get
    monkeypatch.setattr(Store, "get", lambda self, rid, *a, **k: read.append(rid) or real(self, rid, *a, **k))
    at = AppTest.from_string(SCRIPT.format(ids=ids), default_timeout=60)
    at.run()
    assert sorted(read) == sorted(ids)  # the first draw reads each once (its fragment reuses them)
    read.clear()
    at.run()
    assert read == []  # nothing moved
    store.add_epoch(ids[0], {"epoch": 1, "val_acc": 0.2, "train_loss": 2.0})
    at.run()
    assert read == [ids[0]]  # an epoch added
    read.clear()
    store.finish(ids[2], "cancelled", message="stopped")
    at.run()
    assert read == [ids[2]]  # a state change
    assert "cancelled" in " ".join(p.proto.text for p in at.get("progress"))
    read.clear()
    store.delete(ids[1])
    at.run()
    assert read == [] and len(at.get("progress")) == 2  # a removed run leaves the view


def test_the_counts_poll_rarely_beside_a_polling_live_view(tmp_path, monkeypatch):
    from ui.sidebar import LIVE_FLAG, POLL_BESIDE_LIVE_S, POLL_S, poll_every

    assert poll_every({"running": 1}, beside_live=True) == POLL_BESIDE_LIVE_S > POLL_S
    assert poll_every({"done": 1}, beside_live=True) is None
    monkeypatch.setenv("TLAB_DATA_DIR", str(tmp_path))
    store = Store(tmp_path)
    rid, _ = store.submit(TINY)
    at = AppTest.from_string(SCRIPT.format(ids=[rid]), default_timeout=60).run()
    assert at.session_state[LIVE_FLAG]  # a live view of a queued run says it polls
    store.finish(rid, "cancelled")
    at.session_state[LIVE_FLAG] = False  # as app.py's queue_counts leaves it (it pops the flag)
    at.run()
    assert not at.session_state[LIVE_FLAG]  # nothing to poll: the flag is not set again
