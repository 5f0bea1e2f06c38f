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
