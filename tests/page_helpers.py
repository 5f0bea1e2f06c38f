"""What the AppTest page tests (and the browser tests that replay their setups) share: the
app's path, opening a page from a link, a store of four real tiny runs, waiting for the
app's worker, and the setups several modules train on."""

from __future__ import annotations

import time
from pathlib import Path

from tlcore.config import RunConfig
from tlcore.runs import FINAL, Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")

# -- the Compare store: BASE x STRATEGIES x seeds 0, 1 ----------------------------------
BASE = RunConfig(backbone="lab_mnist", dataset="digits", target="digits:rotate=3", labels_per_class=5,
                 val_per_class=5, test_per_class=20, epochs=2, batch_size=16)
STRATEGIES = ("feature_extraction", "finetune_all")
_BUILT: dict[str, Path] = {}

# -- setups a page test trains on and a browser test replays from a link ----------------
SETUP = RunConfig(backbone="lab_mnist", dataset="digits", labels_per_class=5, val_per_class=5,
                  test_per_class=10, epochs=2, batch_size=16)  # the Experiments page's
PAIR = RunConfig(backbone="lab_mnist", dataset="digits", target="digits:colour=5,invert=5", labels_per_class=5,
                 val_per_class=5, test_per_class=20, epochs=3, batch_size=32, lr=3e-3, strategy="dann",
                 extra=(("target_pool_max", 400.0),))  # the Domain adaptation page's
TASK = RunConfig(backbone="lab_mnist", dataset="digits", labels_per_class=10, val_per_class=5,
                 test_per_class=20, epochs=2, batch_size=16)  # the Strategy advisor's

# What a run stores since runs keep their per-image answers (``make_old`` strips them).
NEW_KEYS = ("probs_test", "pred_test", "index_test", "probs_target", "pred_target", "index_target")


def runs_store(tmp_path_factory) -> Path:
    """A store with BASE x STRATEGIES x seeds 0, 1, built once per test session (the
    Compare, Embeddings and error-analysis tests read it)."""
    if "root" not in _BUILT:
        from tlcore.jobs import execute

        root = tmp_path_factory.mktemp("page_runs")
        store = Store(root)
        for s in STRATEGIES:
            for seed in (0, 1):
                rid, _ = store.submit(BASE.replace(strategy=s, seed=seed))
                execute(store, rid)
                assert store.get(rid).status == "done", store.get(rid).message
        _BUILT["root"] = root
    return _BUILT["root"]


def app_for(root: Path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TLAB_DATA_DIR", str(root))  # ui.store keys its store by this dir
    return AppTest.from_file(APP, default_timeout=120)


def open_page(root: Path, monkeypatch, page: str, setup: RunConfig | None = None):
    """The app on ``root``'s store, opened on ``page`` (``app_pages/NAME.py``) with
    ``setup`` in the link, as a shared link would; fails on any exception."""
    from tlcore.urlstate import config_to_params

    at = app_for(root, monkeypatch)
    for k, v in (config_to_params(setup) if setup is not None else {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def wait_done(root, n: int, timeout: float = 600) -> list:
    """The store's records once at least ``n`` exist and all have finished (the app's
    background worker trains them); fails naming the stragglers after ``timeout`` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        recs = Store(root).list()
        if len(recs) >= n and all(r.status in FINAL for r in recs):
            return recs
        time.sleep(1)
    raise AssertionError(f"runs not finished: {[(r.config.strategy, r.status) for r in Store(root).list()]}")


def make_old(store: Store, rid: str) -> None:
    """Make ``rid`` look like a run stored before runs kept their models: no model file, no
    per-image answers, no model in its provenance."""
    (store.artifact_dir(rid) / "model.pt").unlink()
    arts = {k: v for k, v in store.load_artifacts(rid).items() if k not in NEW_KEYS}
    store.save_artifacts(rid, arts)
    rec = store.get(rid, history=False)
    prov = {k: v for k, v in rec.provenance.items() if k != "model"}
    store.finish(rid, "done", metrics=rec.metrics, message=rec.message, seconds=rec.seconds,
                 provenance=prov)
