"""Compare's error analysis and the Train page's disk sizes, in AppTest on real tiny runs.

The oracle for every gallery is the run's own stored answers, read here with plain numpy
(not through tlcore.errors): which images fall in a cell, in which order, and which are the
most confident mistakes. An "old" run (no model file, no per-image answers, as stored
before runs kept them) must say so in plain words and offer a re-run that really re-queues
it; once it has trained again, its images appear.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.page_helpers import BASE, app_for, make_old
from tlcore.errors import human_bytes
from tlcore.jobs import execute
from tlcore.runs import Store

pytestmark = pytest.mark.slow  # real (tiny) training for the store
FINE = BASE.replace(strategy="finetune_all", seed=0)  # with a target domain (digits:rotate=3)
OLD = BASE.replace(strategy="feature_extraction", seed=0, target=None)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("errors_runs")
    store = Store(root)
    for cfg in (FINE, OLD):
        rid, _ = store.submit(cfg)
        execute(store, rid)
        assert store.get(rid).status == "done", store.get(rid).message
    make_old(store, OLD.run_id())
    return root


def open_compare(root, monkeypatch, rid: str):
    at = app_for(root, monkeypatch)
    at.query_params["runs"] = rid
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def captions(at) -> list[str]:
    """Every thumbnail's caption on the page, in page order: the cell's gallery first, then
    the most confident mistakes."""
    return [i.caption.replace("\u00a0", " ") for g in at.get("image") for i in g.proto.imgs]


def galleries(at, cell: int) -> tuple[list[str], list[str]]:
    """(the cell's captions, the mistakes' captions), split after the first ``cell``."""
    caps = captions(at)
    return caps[:cell], caps[cell:]


def oracle(root, rid: str, split: str = "test"):
    """(probs float32 [N, K], pred [N], labels [N]) straight from the artifacts file."""
    arts = torch.load(root / "runs" / rid / "artifacts.pt", weights_only=True)
    return (arts[f"probs_{split}"].float().numpy(), arts[f"pred_{split}"].numpy(),
            arts[f"labels_{split}"].numpy())


def percents(captions: list[str]) -> list[int]:
    """The last percentage in each caption (the probability of the answer given)."""
    return [int(c.rsplit("(", 1)[-1].rstrip("%)")) if "→" in c else int(c.rsplit(" ", 1)[-1][:-1])
            for c in captions]


def test_a_cell_shows_its_images_with_captions(root, monkeypatch):
    rid = FINE.run_id()
    at = open_compare(root, monkeypatch, rid)
    rec = Store(root).get(rid)
    names, cm = rec.metrics["class_names"], np.array(rec.metrics["confusion"])
    off = cm.copy()
    np.fill_diagonal(off, 0)
    t, p = np.unravel_index(off.argmax(), off.shape)  # the default: the commonest mistake
    assert at.selectbox(key=f"err_{rid}_test_true").value == t
    assert at.selectbox(key=f"err_{rid}_test_pred").value == p
    probs, pred, labels = oracle(root, rid)
    cell, top = galleries(at, min(cm[t, p], 24))
    assert len(top) == min(int((pred != labels).sum()), 12)  # and nothing else on the page
    assert any(f"**{cm[t, p]}** image" in m.value for m in at.markdown)
    assert all(c.startswith(f"true {names[t]} (") and f"→ {names[p]} (" in c for c in cell)
    assert percents(cell) == sorted(percents(cell), reverse=True)  # most confident first

    # a diagonal cell: the right answers, closest calls first
    at.selectbox(key=f"err_{rid}_test_true").set_value(3)
    at.selectbox(key=f"err_{rid}_test_pred").set_value(3).run()
    assert not at.exception
    rows = np.flatnonzero((labels == 3) & (pred == 3))
    cell, top = galleries(at, len(rows))
    assert len(rows) == cm[3, 3] and len(top) == min(int((pred != labels).sum()), 12)
    assert all(c.startswith(f"{names[3]}: right, ") for c in cell)
    assert percents(cell) == [int(f"{v:.0%}"[:-1]) for v in np.sort(probs[rows, 3])]

    # an empty cell says so and shows only the mistakes gallery
    empty = [(i, j) for i in range(10) for j in range(10) if cm[i, j] == 0][0]
    at.selectbox(key=f"err_{rid}_test_true").set_value(empty[0])
    at.selectbox(key=f"err_{rid}_test_pred").set_value(empty[1]).run()
    assert any("No source test image of class" in c.value for c in at.caption)
    assert len(captions(at)) == min(int((pred != labels).sum()), 12)  # only the mistakes


def test_most_confident_mistakes_come_in_loss_order(root, monkeypatch):
    rid = FINE.run_id()
    at = open_compare(root, monkeypatch, rid)
    names = Store(root).get(rid).metrics["class_names"]
    probs, pred, labels = oracle(root, rid)
    wrong = np.flatnonzero(pred != labels)
    p_true = probs[wrong, labels[wrong]]
    p_pred = probs[wrong, pred[wrong]]
    order = sorted(range(len(wrong)), key=lambda i: (p_true[i], -p_pred[i], wrong[i]))[:12]
    expected = [f"true {names[labels[wrong[i]]]} ({p_true[i]:.0%}) → {names[pred[wrong[i]]]} "
                f"({p_pred[i]:.0%})" for i in order]
    assert captions(at)[-len(expected):] == expected
    assert any(f"{len(wrong)} of {len(labels)} source test images are wrong" in m.value
               for m in at.markdown)


def test_the_target_domain_has_its_own_cells(root, monkeypatch):
    rid = FINE.run_id()
    at = open_compare(root, monkeypatch, rid)
    at.radio(key=f"err_{rid}_split").set_value("target").run()
    assert not at.exception
    cm = np.array(Store(root).get(rid).metrics["target_confusion"])
    t = at.selectbox(key=f"err_{rid}_target_true").value
    p = at.selectbox(key=f"err_{rid}_target_pred").value
    assert cm[t, p] == max(cm[i, j] for i in range(10) for j in range(10) if i != j)
    _, pred, labels = oracle(root, rid, "target")
    cell, top = galleries(at, min(cm[t, p], 24))
    assert len(top) == min(int((pred != labels).sum()), 12)
    assert all(c.startswith(f"true {t} (") and f"→ {p} (" in c for c in cell)  # digits: names
    assert any(f"{int((pred != labels).sum())} of {len(labels)} target test images are wrong"
               in m.value for m in at.markdown)


def test_a_dataset_that_cannot_be_loaded_gives_a_message(root, monkeypatch):
    import ui.errors_view
    from tlcore.data.base import DatasetUnavailable

    def gone(*a, **k):
        raise DatasetUnavailable("digits is not installed here")

    ui.errors_view.domain_images.clear()
    monkeypatch.setattr(ui.errors_view, "load_domain", gone)
    try:
        at = open_compare(root, monkeypatch, FINE.run_id())
        assert any("Cannot show the source test images of `digits`" in e.value
                   and "not installed" in e.value for e in at.error)
        assert not at.get("image")
    finally:
        ui.errors_view.domain_images.clear()  # no failure stays cached for later tests


def test_plain_reruns_load_no_data_and_export_nothing(root, monkeypatch):
    import tlcore.export
    import ui.errors_view

    calls = {"domain": 0, "artifacts": 0, "export": 0}

    def counting(name, fn):
        def wrapped(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapped

    monkeypatch.setattr(ui.errors_view, "load_domain",
                        counting("domain", ui.errors_view.load_domain))
    monkeypatch.setattr(Store, "load_artifacts", counting("artifacts", Store.load_artifacts))
    monkeypatch.setattr(tlcore.export, "export_zip", counting("export", tlcore.export.export_zip))
    at = open_compare(root, monkeypatch, FINE.run_id())
    assert any(b.label.startswith("Prepare model (ONNX") for b in at.button)
    first = dict(calls)
    for _ in range(2):
        at.run()
    assert not at.exception
    assert calls == first and calls["export"] == 0
    # a click builds it once; the download is then ready and not rebuilt on later reruns
    at.button(key="err_export_onnx_prepare").click().run()
    assert not at.exception and calls["export"] == 1
    assert any(b.label.startswith("Download model (ONNX") for b in at.get("download_button"))
    at.run()
    assert calls["export"] == 1


def test_an_old_run_says_so_and_its_rerun_brings_the_images(root, monkeypatch):
    import ui.store

    started = []
    monkeypatch.setattr(ui.store, "ensure_worker", lambda store: started.append(store.root))
    rid = OLD.run_id()
    at = open_compare(root, monkeypatch, rid)
    assert any("stored before runs kept their models and per-image answers" in i.value
               for i in at.info)
    assert any("kept no model" in c.value for c in at.caption)  # no export offered
    assert not at.get("image")
    stale = open_compare(root, monkeypatch, rid)  # a second tab, drawn before the re-run
    at.button(key=f"err_{rid}_rerun").click().run()
    assert not at.exception, [e.value for e in at.exception]
    store = Store(root)
    assert store.get(rid).status == "queued" and started == [store.root]
    assert not any("per-image answers" in i.value for i in at.info)  # not done: no matrix yet
    execute(store, rid)  # what the worker would do
    at.run()
    assert not at.exception
    assert at.get("image") and not any("per-image answers" in i.value for i in at.info)
    # the stale tab's button must not delete the fresh run
    stale.button(key=f"err_{rid}_rerun").click().run()
    assert not stale.exception
    assert store.get(rid).status == "done" and len(started) == 1
    assert "probs_test" in store.load_artifacts(rid)


def test_train_history_shows_model_sizes_and_the_store_size(root, monkeypatch):
    at = app_for(root, monkeypatch)
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    store = Store(root)
    history = at.dataframe[-1].value
    sizes = dict(zip(history["id"], history["model"], strict=True))
    fine = store.get(FINE.run_id(), history=False).provenance["model"]["bytes"]
    assert 1_000_000 < fine < 1_500_000 and sizes[FINE.run_id()] == human_bytes(fine)
    assert sizes[FINE.run_id()].endswith(" MB")
    text = " ".join(c.value for c in at.caption)
    # the workspace's runs: the common ones (a run re-queued by an earlier test's session is
    # that session's now)
    n = store.count(ws=at.session_state["tl_ws"])
    assert len(history) == n and f"{n} run{'s' if n != 1 else ''} in workspace" in text
    assert f"the whole store {human_bytes(store.disk_bytes())} on disk" in text
