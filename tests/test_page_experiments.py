"""The Experiments page end to end in AppTest, with small budgets: press Run, the app's
worker trains the grid, the page draws the label-budget curves (with the crossover
sentence the engine computes) and the Yosinski chart (four arms beside the paper's
points, with the verdict), all read back from the stored runs."""

from __future__ import annotations

import json
import time

import pytest

from tests.page_helpers import SETUP, open_page, wait_done
from tlcore import experiments as ex

YOS = ex.YOSINSKI_BASE.replace(labels_per_class=20, val_per_class=5, test_per_class=10, epochs=1)


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def open_experiments(root, monkeypatch):
    monkeypatch.setattr(ex, "YOSINSKI_BASE", YOS)
    return open_page(root, monkeypatch, "app_pages/experiments.py", SETUP)


@pytest.mark.slow
def test_label_budget_sweep_runs_and_draws(tmp_path, monkeypatch):
    at = open_experiments(tmp_path, monkeypatch)
    at.multiselect(key="exp_ks").set_value([1, 5]).run()
    at.multiselect(key="exp_seeds").set_value([0, 1]).run()
    at.button(key="exp_budget_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    recs = wait_done(tmp_path, 12)
    assert all(r.status == "done" for r in recs), [(r.config.strategy, r.status, r.message) for r in recs]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    fig = next(f for f in charts(at) if "label budget" in f["layout"]["title"]["text"])
    lines = {t["name"]: t for t in fig["data"] if not t["name"].endswith("band")}
    assert set(lines) == {"From scratch", "Feature extraction", "Fine-tune all"}
    summary = ex.budget_summary(recs)
    for s, name in (("scratch", "From scratch"), ("feature_extraction", "Feature extraction")):
        assert lines[name]["x"] == [1, 5]
        assert lines[name]["y"] == pytest.approx(summary[s]["mean"])
    k = ex.crossover(summary, "feature_extraction", "finetune_all")
    text = " ".join(m.value for m in at.markdown)
    if k is None or k == 1:  # never ahead, or ahead at every budget: no crossover to mark
        assert "No crossover here" in text
    else:
        assert f"from k = {k}" in text


@pytest.mark.slow
def test_yosinski_grid_runs_and_draws_beside_the_paper(tmp_path, monkeypatch):
    at = open_experiments(tmp_path, monkeypatch)
    n = len(ex.yosinski_configs(seeds=[0], epochs=YOS.epochs, labels_per_class=YOS.labels_per_class, base=YOS))
    assert n == 17
    at.button(key="exp_yos_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    recs = wait_done(tmp_path, n)
    assert all(r.status == "done" for r in recs), [(r.config.strategy, r.status, r.message) for r in recs]
    at.run()
    fig = next(f for f in charts(at) if "copy n layers" in f["layout"]["title"]["text"])
    names = [t["name"] for t in fig["data"]]
    for arm in ("AnB", "AnB+", "BnB", "BnB+"):
        assert arm in names
    assert any(nm.startswith("paper:") for nm in names)
    anb = next(t for t in fig["data"] if t["name"] == "AnB")
    assert anb["x"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert anb["y"] == pytest.approx(ex.yosinski_summary(recs)["arms"]["AnB"]["mean"])
    assert any("AnB" in m.value and "base" in m.value for m in at.markdown)


def test_sweep_tab_queues_the_planned_trials_and_ranks_them_by_validation(tmp_path, monkeypatch):
    """The Sweep tab plans with tlcore.sweep (the CLI's run ids), records the sweep in the
    store, and draws the parallel-coordinates plot and the table best first."""
    from tlcore.runs import Store
    from tlcore.sweep import Dim, SweepSpec, plan

    at = open_experiments(tmp_path, monkeypatch)
    at.selectbox(key="exp_sweep_strategy").set_value("finetune_top").run()
    at.multiselect(key="exp_sweep_lr").set_value([0.03, 0.001]).run()
    at.multiselect(key="exp_sweep_top_k").set_value([1]).run()
    assert at.button(key="exp_sweep_run").label == "Run the sweep (2 trials)"
    at.button(key="exp_sweep_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    recs = wait_done(tmp_path, 2)
    assert [r.status for r in recs] == ["done", "done"], [r.message for r in recs]
    spec = SweepSpec(SETUP.replace(strategy="finetune_top"),
                     (Dim("lr", (0.03, 0.001)), Dim("backbone_lr_mult", (0.1,)), Dim("top_k", (1,)),
                      Dim("bn_policy", ("frozen",))))
    cli_ids = [c.run_id() for c in plan(spec)]
    assert sorted(r.id for r in recs) == sorted(cli_ids)  # what `tlcore sweep` would train
    assert Store(tmp_path).sweep(spec.sweep_id())[1] == cli_ids
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    fig = next(f for f in charts(at) if f["data"][0]["type"] == "parcoords")
    # the axes that vary (one value each for the rest says nothing), then the ranking
    assert [d["label"] for d in fig["data"][0]["dimensions"]] == ["lr (log)", "val_accuracy"]
    table = next(d.value for d in at.dataframe if "run" in d.value.columns)
    by_val = sorted(recs, key=lambda r: -r.metrics["val_accuracy"])
    assert list(table["run"]) == [r.id for r in by_val] and list(table[""]) == ["★", ""]
    assert "reported, not used to choose" in " ".join(m.value for m in at.markdown)
    assert "The validation split has 50 images" in " ".join(c.value for c in at.caption)


def test_sweep_tab_offers_only_the_settings_that_change_a_run(tmp_path, monkeypatch):
    at = open_experiments(tmp_path, monkeypatch)
    at.selectbox(key="exp_sweep_strategy").set_value("feature_extraction").run()
    keys = {m.key for m in at.multiselect}
    assert {"exp_sweep_lr", "exp_sweep_bn_policy"} <= keys
    assert not keys & {"exp_sweep_backbone_lr_mult", "exp_sweep_top_k"}
    assert any("do not change a Feature extraction run" in c.value for c in at.caption)


def test_sweep_tab_random_draws_within_the_range_picked(tmp_path, monkeypatch):
    at = open_experiments(tmp_path, monkeypatch)
    at.selectbox(key="exp_sweep_strategy").set_value("finetune_top").run()
    at.multiselect(key="exp_sweep_lr").set_value([0.03, 0.001]).run()
    at.multiselect(key="exp_sweep_top_k").set_value([0, 2]).run()
    at.radio(key="exp_sweep_search").set_value("random").run()
    at.number_input(key="exp_sweep_trials").set_value(5).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.button(key="exp_sweep_run").label == "Run the sweep (5 trials)"
    at.button(key="exp_sweep_run").click().run()
    from tlcore.runs import Store

    store = Store(tmp_path)
    cfgs = [r.config for r in store.list()]
    for r in store.list():
        store.request_cancel(r.id)  # only the plan is checked here
    assert len(cfgs) == 5 and all(0.001 <= c.lr <= 0.03 and c.top_k in (0, 1, 2) for c in cfgs)
    assert len({c.lr for c in cfgs}) == 5  # drawn, not the two values picked


def test_past_sweeps_show_the_workspaces_stored_sweeps_again(tmp_path, monkeypatch):
    """A sweep recorded in the store (by this tab or `tlcore sweep`) is offered under Past
    sweeps when this workspace lists its trials; picking it draws its stored trials ranked
    by its metric. Another workspace's sweep is not offered."""
    from tlcore.runs import Store
    from tlcore.sweep import Dim, SweepSpec, plan

    store = Store(tmp_path)
    mine = SweepSpec(SETUP.replace(strategy="finetune_top"), (Dim("lr", (0.03, 0.01, 0.001)),))
    val = {0.03: 0.4, 0.01: 0.7, 0.001: 0.5}
    ids = []
    for cfg in plan(mine):
        rid, _ = store.submit(cfg)  # common: every workspace lists it
        store.claim(rid)
        store.finish(rid, "done", metrics={"val_accuracy": val[cfg.lr], "test_accuracy": 0.6}, seconds=1.0)
        ids.append(rid)
    store.add_sweep(mine.sweep_id(), mine.to_dict(), ids)
    theirs = SweepSpec(SETUP.replace(strategy="finetune_all"), (Dim("lr", (0.02,)),))
    rid, _ = store.submit(plan(theirs)[0], ws="elsewhere")
    store.add_sweep(theirs.sweep_id(), theirs.to_dict(), [rid])
    at = open_experiments(tmp_path, monkeypatch)
    past = at.selectbox(key="exp_sweep_past")
    assert past.options and len(past.options) == 1 and "Fine-tune top" in past.options[0], past.options
    past.set_value(mine.sweep_id()).run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "run" in d.value.columns)
    assert [round(v, 2) for v in table["val_accuracy"]] == [0.7, 0.5, 0.4]
    assert list(table[""]) == ["★", "", ""]
    assert any("3 of 3 trials in the store" in c.value for c in at.caption)


@pytest.mark.slow
def test_sweep_tab_runs_a_tpe_search_through_its_driver_process(tmp_path, monkeypatch):
    """TPE needs each score before it picks the next point, which a script run cannot wait
    for: the tab starts the sweep's driver process (tlcore.sweep_driver), the server's
    worker trains what it asks, and the tab draws the stored trials once it is done."""
    from tests.conftest import _workers_under, stop_pids
    from tlcore import sweep_driver

    at = open_experiments(tmp_path, monkeypatch)
    at.selectbox(key="exp_sweep_strategy").set_value("finetune_top").run()
    at.multiselect(key="exp_sweep_lr").set_value([0.03, 0.001]).run()
    at.multiselect(key="exp_sweep_top_k").set_value([1]).run()
    at.radio(key="exp_sweep_search").set_value("tpe").run()
    at.number_input(key="exp_sweep_trials").set_value(2).run()
    assert not at.exception, [e.value for e in at.exception]
    start = at.button(key="exp_sweep_start")
    assert start.label == "Start the sweep (2 trials, 1 at a time on this server's workers)"
    try:
        start.click().run()
        assert not at.exception, [e.value for e in at.exception]
        sid = next(iter(p.stem for p in (tmp_path / "sweep_drivers").glob("*.json")))
        deadline = time.time() + 240
        while time.time() < deadline and sweep_driver.state(tmp_path, sid)["state"] in sweep_driver.LIVE:
            time.sleep(0.5)
    finally:
        stop_pids(_workers_under(str(tmp_path)))
    doc = sweep_driver.state(tmp_path, sid)
    assert doc["state"] == "done" and doc["spec"]["search"] == "tpe", doc
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    fig = next(f for f in charts(at) if f["data"][0]["type"] == "parcoords")
    lrs = fig["data"][0]["dimensions"][0]["values"]
    assert len(lrs) == 2 and all(0.001 <= v <= 0.03 for v in lrs)  # drawn in the range picked
    table = next(d.value for d in at.dataframe if "run" in d.value.columns)
    assert list(table["run"])[0] == doc["best"]


def test_sweep_tab_offers_ray_to_the_teacher_only(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    at = open_experiments(tmp_path, monkeypatch)
    at.radio(key="exp_sweep_engine").set_value("ray").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("only the teacher may start it" in w.value for w in at.warning)
    assert not [b for b in at.button if b.key == "exp_sweep_start"]
