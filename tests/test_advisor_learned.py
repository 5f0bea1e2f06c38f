"""The learned advisor: the meta-dataset, its collection, the model, leave-one-dataset-out.

Oracles: a spy on the fit proves the held-out dataset never reaches it, and a planted
dataset-specific signal that a leak would exploit scores near 1 in-sample but not held out;
a known synthetic relation between signals and accuracies is recovered on unseen datasets;
the shipped table's recorded track record (and the README's table) is what refitting from
its rows gives; a resumed collection trains nothing twice.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tlcore.cli import main
from tlcore.config import RunConfig
from tlcore.runs import RunRecord, Store
from tlcore.transfer import collect as co
from tlcore.transfer import learned, learned_advice, lodo, meta
from tlcore.transfer.rules import RULES, SIMILAR_BELOW

README = Path(__file__).resolve().parent.parent / "README.md"
S = meta.STRATEGIES


def _signals(x: float, a: float = 1.9, **more) -> dict:
    """Signals with ``log2_labels_per_class = x`` and A-distance ``a``, the rest fixed."""
    return {**dict.fromkeys(meta.SIGNALS, 0.0), "log2_labels_per_class": x, "num_classes": 10.0,
            "a_distance": a, "h_score": None, **more}


def _row(family: str, i: int, signals: dict, accuracy: dict) -> dict:
    return {"key": f"{family}-{i}", "dataset": family, "family": family, "backbone": "b", "labels_per_class": 1,
            "seed": 0, "epochs": 1, "signals": signals, "accuracy": accuracy, "run_ids": {}, "source": "test"}


def _true_acc(x: float) -> dict:
    """A known relation with crossings: scratch climbs with the budget, frozen features stay flat."""
    return {"scratch": 0.10 + 0.12 * x, "feature_extraction": 0.55 + 0.02 * x, "finetune_top": 0.45 + 0.06 * x,
            "finetune_all": 0.35 + 0.09 * x, "lp_ft": 0.50 + 0.04 * x}


def _relation_rows(families=("a", "b", "c", "d", "e"), per=12, seed=0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for f in families:
        for i, x in enumerate(rng.uniform(0, 7, per)):
            acc = {s: v + rng.normal(0, 0.005) for s, v in _true_acc(x).items()}
            rows.append(_row(f, i, _signals(float(x)), acc))
    return rows


# -- the model -------------------------------------------------------------------------------


def test_seed_agreement_and_the_mean_over_seeds_on_hand_made_rows():
    """Two seeds of one task that swap their top two strategies: tau between them is
    (5 concordant - 1 discordant) / 6 over the rule's 4 strategies, different winners; the
    mean over seeds averages accuracies and signals, and a signal one seed lacks is lacking."""
    ruled = lodo.RULED
    a = dict(zip(ruled, (0.9, 0.8, 0.7, 0.6), strict=True))
    b = dict(zip(ruled, (0.8, 0.9, 0.7, 0.6), strict=True))
    rows = [{**_row("f", 0, _signals(1.0), {**a, "lp_ft": 0.5}), "seed": 0},
            {**_row("f", 1, _signals(3.0, h_score=0.5), {**b, "lp_ft": 0.7}), "seed": 1},
            {**_row("g", 0, _signals(1.0), {**a, "lp_ft": 0.5}), "dataset": "g", "seed": 0}]  # one seed only
    agree = lodo.seed_agreement(rows)
    assert agree["tasks"] == 1 and agree["pairs"] == 1
    assert agree["tau"] == pytest.approx(4 / 6) and agree["same_winner"] == 0.0
    mean = lodo.mean_over_seeds(rows)
    assert len(mean) == 2 and mean[0]["seed"] == [0, 1] and mean[1] is rows[2]
    assert mean[0]["accuracy"][ruled[0]] == pytest.approx(0.85) and mean[0]["accuracy"]["lp_ft"] == pytest.approx(0.6)
    assert mean[0]["signals"]["log2_labels_per_class"] == pytest.approx(2.0) and mean[0]["signals"]["h_score"] is None
    assert lodo.seed_agreement(rows[2:]) is None


def test_learned_model_recovers_a_known_relation_on_unseen_datasets():
    rows = _relation_rows()
    report = lodo.evaluate(rows)
    assert [f.dataset for f in report.folds] == ["a", "b", "c", "d", "e"]
    assert report.mean("learned") > 0.8  # the order changes with the budget, and it is learnt
    # the rule does not read the budget below 100 per class, and a fixed order cannot follow it
    assert report.mean("learned") > report.mean("rule") + 0.3
    assert report.mean("learned") > report.mean("mean_order") + 0.3
    model = learned.fit([r for r in rows if r["family"] != "a"])
    for x in (1.0, 3.5, 6.0):
        pred = {p.strategy: p for p in model.predict(_signals(x))}
        for s, v in _true_acc(x).items():
            assert pred[s].accuracy == pytest.approx(v, abs=0.06), (x, s)
            assert pred[s].low <= pred[s].accuracy <= pred[s].high


def test_lodo_never_fits_on_the_held_out_dataset(monkeypatch):
    # A planted signal: each dataset has its own value of image_size, and within a dataset it
    # fixes a random strategy order. A model that saw the held-out rows would predict them
    # almost perfectly (in-sample tau ~1); one that did not has nothing to go on (tau ~0).
    rng = np.random.default_rng(1)
    rows = []
    for k, f in enumerate("abcdef"):
        accs = rng.permutation(np.linspace(0.3, 0.9, len(S)))
        for i in range(10):
            rows.append(_row(f, i, _signals(3.0, image_size=float(10 * k)),
                             {s: float(a) + rng.normal(0, 0.002) for s, a in zip(S, accs, strict=True)}))
    seen = []
    real_fit = lodo.fit

    def spy(train, *a, **kw):
        seen.append({r["family"] for r in train})
        return real_fit(train, *a, **kw)

    monkeypatch.setattr(lodo, "fit", spy)
    report = lodo.evaluate(rows)
    assert [f.dataset for f in report.folds] == list("abcdef")
    for fold, families in zip(report.folds, seen, strict=True):
        assert families == set("abcdef") - {fold.dataset}
        assert fold.train_rows == 50 and fold.tasks == 10
    in_sample = learned.fit(rows)
    tau_in = np.mean([lodo._tau({p.strategy: p.accuracy for p in in_sample.predict(r["signals"])}, r["accuracy"],
                                lodo.RULED) for r in rows])
    assert tau_in > 0.9  # the leak would be worth this much
    assert report.mean("learned") < 0.5


def test_fit_is_deterministic_and_refuses_too_few_rows():
    rows = _relation_rows(per=5)
    a, b = learned.fit(rows).predict(_signals(2.0)), learned.fit(rows).predict(_signals(2.0))
    assert a == b
    with pytest.raises(ValueError, match="at least 2"):
        learned.fit(rows[:1])


def test_missing_signals_are_read_as_a_value_below_every_real_one():
    x = learned.features([{"logme": None, "leep": float("nan"), "h_score": 3.0}], ("logme", "leep", "h_score"))
    assert x.tolist() == [[learned.MISSING, learned.MISSING, 3.0]]


@pytest.mark.parametrize("per_class, a, cell", [(10, 0.5, ("small", "similar")), (10, 1.9, ("small", "dissimilar")),
                                                 (100, 0.5, ("large", "similar")), (100, None, ("large", "dissimilar")),
                                                 (99, SIMILAR_BELOW, ("small", "dissimilar"))])
def test_rule_ranking_reads_the_grid(per_class, a, cell):
    assert learned.rule_ranking(_signals(math.log2(per_class), a)) == RULES[cell].ranking


# -- the shipped meta-dataset ----------------------------------------------------------------


def test_shipped_table_reproduces_its_recorded_track_record_and_the_readme():
    table = meta.load_table(meta.SHIPPED_TABLE)
    assert table["command"].startswith("python -m tlcore advise --collect") and table["date"]
    rows = meta.complete_rows(table["rows"])
    assert len(rows) == len(table["rows"]) >= 100
    families = {r["family"] for r in rows}
    assert len(families) >= 5
    for r in rows:
        assert set(r["signals"]) == set(meta.SIGNALS) and set(r["accuracy"]) == set(S)
        assert r["family"] == meta.family(r["dataset"])
    report = lodo.evaluate(rows)
    recorded = table["lodo"]
    assert recorded["rows"] == report.rows
    got = report.to_dict()
    for f_rec, f_new in zip(recorded["folds"], got["folds"], strict=True):
        assert f_rec["dataset"] == f_new["dataset"]
        for k in ("tau", "regret"):
            assert f_rec[k] == pytest.approx(f_new[k], abs=1e-9), (f_rec["dataset"], k)
    assert lodo.markdown_table(report) in README.read_text()  # the README's table is this one
    # the lab zoo's tasks ran on three seeds: how far one seed's order is from another's, and
    # the table scored against each task's mean over its seeds, are what the rows give
    assert {r["seed"] for r in rows if r["backbone"].startswith("lab_")} == {0, 1, 2}
    assert recorded["seed_agreement"] == lodo.seed_agreement(table["rows"])
    over = lodo.evaluate(table["rows"], over_seeds=True)
    assert recorded["over_seeds"]["rows"] == over.rows < report.rows
    assert recorded["over_seeds"]["mean"] == pytest.approx(over.to_dict()["mean"], abs=1e-9)
    assert lodo.markdown_table(over) in README.read_text()


def test_collect_runs_the_seeds_asked_for_and_records_a_command_that_reproduces_them(tmp_path, monkeypatch):
    """``--seeds`` replaces the plan's seeds; the recorded command leaves out where the runs
    and the table were kept."""
    seen = {}

    def fake_collect(store, plan, out, provenance, log):
        seen.update(plan=plan, out=out, provenance=provenance)
        return {"rows": []}

    monkeypatch.setattr(co, "collect", fake_collect)
    argv = ["advise", "--collect", "--quick", "--seeds", "1,2", "--store", str(tmp_path / "s"),
            "--out", str(tmp_path / "t.json")]
    monkeypatch.setattr("sys.argv", ["tlcore", *argv])
    assert main(argv) == 0
    assert seen["plan"].seeds == (1, 2) and len(seen["plan"].tasks()) == 2 * len(co.QUICK.tasks())
    assert {t.seed for t in seen["plan"].tasks()} == {1, 2}
    assert seen["provenance"]["command"] == "python -m tlcore advise --collect --quick --seeds 1,2"
    assert seen["provenance"]["plan"]["seeds"] == [1, 2] and seen["out"] == tmp_path / "t.json"


# -- collection ------------------------------------------------------------------------------


def test_plan_covers_every_dataset_at_each_budget_and_its_own_backbone():
    plan = co.Plan()
    tasks = plan.tasks()
    assert len(tasks) == len(set(tasks))
    first = tasks[: len(tasks) // len(plan.budgets)]
    assert {meta.family(t.dataset) for t in first} == set(plan.datasets)  # budget-major: every dataset early
    assert {t.labels_per_class for t in first} == {plan.budgets[0]}
    assert {t.backbone for t in tasks} == set(co.LAB_BACKBONES)
    assert all("lab_mnist" in {t.backbone for t in tasks if t.dataset == d} for d in plan.domains()
               if d.startswith("mnist:") or d == "mnist")


def test_imagenet_plan_puts_an_offline_imagenet_backbone_on_every_clean_dataset():
    from tlcore.models import available_backbones

    tasks = co.IMAGENET.tasks()
    plan = co.IMAGENET
    assert len(tasks) == len(set(tasks)) == len(plan.datasets) * len(plan.budgets) * len(plan.backbones)
    assert {t.dataset for t in tasks} == set(co.IMAGENET.datasets)  # clean domains only
    assert {t.input_size for t in tasks} == {64}
    assert {t.backbone for t in tasks} <= set(available_backbones())  # no download needed
    table = meta.load_table(meta.SHIPPED_TABLE)
    shipped = {(r["dataset"], r["backbone"], r["labels_per_class"]) for r in table["rows"]}
    assert {(t.dataset, t.backbone, t.labels_per_class) for t in tasks} <= shipped
    assert [m["command"] for m in table.get("more", [])] == [
        "python -m tlcore advise --collect --plan imagenet --threads 2",
        "python -m tlcore advise --collect --seeds 1,2 --threads 1"]


def test_a_second_collection_keeps_the_first_ones_command():
    first = {"command": "a", "date": "d1", "rows": []}
    assert co.with_provenance(first, {"command": "a", "date": "d2"})["date"] == "d2"  # the same command again
    both = co.with_provenance(first, {"command": "b", "date": "d3"})
    assert both["command"] == "a" and both["more"] == [{"command": "b", "date": "d3"}]
    again = co.with_provenance(both, {"command": "b", "date": "d4"})
    assert again["more"] == [{"command": "b", "date": "d4"}]


def test_collect_resumes_after_an_interruption_without_running_a_task_twice(tmp_path, monkeypatch):
    monkeypatch.setattr(co, "task_signals", lambda cfg: _signals(1.0))
    plan = co.Plan(datasets=("digits", "mnist"), severities=(3,), budgets=(1, 2), backbones=("lab_mnist",),
                   backbones_per_domain=1)
    calls: list[RunConfig] = []

    def run(store, cfg):
        if len(calls) == 7:  # in the second task's third strategy
            raise KeyboardInterrupt
        calls.append(cfg)
        return RunRecord(cfg.run_id(), cfg, "done", 0, 0, 1, "", {"test_accuracy": 0.5}, {}, 1, None)

    path = tmp_path / "meta.json"
    with pytest.raises(KeyboardInterrupt):
        co.collect(None, plan, path, {"command": "test"}, run=run, log=lambda m: None)
    assert len(meta.load_table(path)["rows"]) == 1  # the finished task was written at once
    calls_before = list(calls)
    calls.append(None)  # no more interruptions
    table = co.collect(None, plan, path, {"command": "test"}, run=run, log=lambda m: None)
    resumed = calls[len(calls_before) + 1:]
    assert len(table["rows"]) == len(plan.tasks()) == 8
    first_task = set(calls_before[:len(S)])
    assert not first_task & set(resumed)  # the written task is not run again
    assert len(resumed) == (len(plan.tasks()) - 1) * len(S)
    assert table["command"] == "test"
    n = len(calls)
    co.collect(None, plan, path, run=run, log=lambda m: None)
    assert len(calls) == n  # a complete table runs nothing


@pytest.mark.slow
def test_collect_reuses_stored_runs_instead_of_training_again(tmp_path, monkeypatch):
    from tlcore import jobs

    trained = []
    real = jobs.execute
    monkeypatch.setattr(jobs, "execute", lambda *a, **kw: trained.append(a[1]) or real(*a, **kw))
    plan = co.Plan(datasets=("digits",), severities=(), budgets=(2,), backbones=("lab_mnist",),
                   backbones_per_domain=1, base=RunConfig(epochs=1, val_per_class=5, test_per_class=10))
    store = Store(tmp_path / "store")
    first = co.collect(store, plan, tmp_path / "a.json", log=lambda m: None)
    assert len(trained) == len(S) and len(first["rows"]) == 1
    second = co.collect(store, plan, tmp_path / "b.json", log=lambda m: None)  # a new table, the same store
    assert len(trained) == len(S)  # nothing trained again
    assert second["rows"][0]["accuracy"] == first["rows"][0]["accuracy"]
    assert second["rows"][0]["signals"] == first["rows"][0]["signals"]
    sig = first["rows"][0]["signals"]
    assert sig["log2_labels_per_class"] == 1.0 and sig["image_size"] == 8.0 and 0 <= sig["knn_accuracy"] <= 1


# -- a check's runs join the store's table -----------------------------------------------------


def test_check_rows_need_every_strategy_and_feed_the_refit(tmp_path, monkeypatch):
    monkeypatch.setattr(learned_advice, "task_signals", lambda cfg: _signals(2.0))
    base = RunConfig(backbone="lab_mnist", dataset="digits", labels_per_class=4, epochs=2)
    recs = [RunRecord(c.run_id(), c, "done", 0, 0, 1, "", {"test_accuracy": 0.1 * i}, {}, 1, None)
            for i, c in enumerate(base.replace(strategy=s) for s in S)]
    other = base.replace(backbone="lab_fashion", strategy="finetune_top")
    recs.append(RunRecord(other.run_id(), other, "done", 0, 0, 1, "", {"test_accuracy": 0.9}, {}, 1, None))
    assert learned_advice.add_check_rows(tmp_path, recs[1:]) == 0  # scratch missing: no row
    assert learned_advice.add_check_rows(tmp_path, recs) == 1  # lab_fashion has one strategy only
    assert learned_advice.add_check_rows(tmp_path, recs) == 1  # again: replaced, not doubled
    [row] = meta.load_table(meta.user_table(tmp_path))["rows"]
    assert row["backbone"] == "lab_mnist" and row["accuracy"]["finetune_all"] == pytest.approx(0.3)
    assert row["source"] == "check" and row["family"] == "digits"
    shipped = len(meta.complete_rows(meta.load_table(meta.SHIPPED_TABLE)["rows"]))
    rows, mine = learned_advice.fit_rows(tmp_path)
    assert mine == 1 and len(rows) == shipped + 1
    extra = learned_advice.extra_configs(base, "lab_fashion", [0, 1], RULES[("small", "similar")].ranking)
    assert [(c.strategy, c.backbone, c.seed) for c in extra] == [("lp_ft", "lab_fashion", 0), ("lp_ft", "lab_fashion", 1)]


def test_cli_lodo_prints_the_table_of_a_table_file(tmp_path, capsys):
    path = tmp_path / "t.json"
    meta.save_table(path, {"rows": _relation_rows(families=("a", "b", "c"), per=6)})
    assert main(["advise", "--lodo", "--out", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| `a` | 6 |" in out and "mean Kendall's tau learned" in out
    assert main(["advise", "--lodo", "--record", "--out", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert meta.load_table(path)["lodo"]["mean"] == report["mean"]


def test_cli_advise_learned_prints_the_prediction_beside_the_rule(tmp_path, capsys):
    args = ["advise", "--dataset", "digits", "--backbone", "lab_mnist", "--backbones", "lab_mnist", "--learned",
            "--store", str(tmp_path)]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    la = out["learned"]
    assert la["rule"] == out["advice"]["predicted_strategies"]  # one cell, read from the same measurements
    assert sorted(p["strategy"] for p in la["predictions"]) == sorted(S)
    acc = [p["accuracy"] for p in la["predictions"]]
    assert acc == sorted(acc, reverse=True) and all(p["low"] <= p["accuracy"] <= p["high"] for p in la["predictions"])
    assert la["lodo"] == meta.load_table(meta.SHIPPED_TABLE)["lodo"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert f"learned: {' > '.join(p['strategy'] for p in la['predictions'])}" in text
    assert f"rule:    {' > '.join(la['rule'])}" in text and "track record" in text
    assert "lab_mnist" in la["backbones"] and "never seen" not in text
