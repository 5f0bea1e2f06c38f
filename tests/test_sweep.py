"""``tlcore sweep``: the space is planned and checked before anything trains, trials go
through the store (reused, resumed, each stored once), serial and parallel trials give the
same numbers, and the choice reads validation numbers only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import _workers_under, stop_pids
from tests.engine_helpers import TINY, wait_workers_ready
from tlcore.cli import main
from tlcore.runs import Store
from tlcore.sweep import Dim, SweepSpec, best, describe, parse_dim, plan
from tlcore.sweep_local import run_local
from tlcore.workers import ensure_workers

ROOT = Path(__file__).resolve().parent.parent
BASE = TINY.replace(strategy="finetune_top", epochs=2)


def spec(*dims: str, **kw) -> SweepSpec:
    return SweepSpec(base=BASE, dims=tuple(parse_dim(d) for d in dims), **kw)


def test_a_grid_is_every_combination_in_order_times_the_seeds():
    cfgs = plan(spec("lr=0.01,0.001", "top_k=1,2", seeds=(0, 1)))
    got = [(c.lr, c.top_k, c.seed) for c in cfgs]
    assert got == [(lr, k, s) for lr in (0.01, 0.001) for k in (1, 2) for s in (0, 1)]
    assert len({c.run_id() for c in cfgs}) == 8
    assert plan(spec("lr=0.01,0.001", "top_k=1,2", trials=3)) == cfgs[::2][:3]  # a cap, in order


def test_random_search_is_repeatable_and_stays_in_its_ranges():
    s = spec("lr=0.0001:0.1:log", "bn_policy=frozen,train", "top_k=0:3", search="random", trials=12)
    a, b = plan(s), plan(s)
    assert a == b  # the same command plans the same trials: that is what lets it resume
    assert all(1e-4 <= c.lr <= 0.1 and c.bn_policy in ("frozen", "train") and 0 <= c.top_k <= 3 for c in a)
    assert len({c.lr for c in a}) > 6  # really drawn, not one value
    other = plan(SweepSpec(s.base, s.dims, "random", 12, search_seed=1))
    assert [c.lr for c in other] != [c.lr for c in a]
    assert s.sweep_id() == spec("lr=0.0001:0.1:log", "bn_policy=frozen,train", "top_k=0:3",
                                search="random", trials=12).sweep_id()
    assert s.sweep_id() != other and s.sweep_id() != SweepSpec(s.base, s.dims, "random", 12,
                                                               search_seed=1).sweep_id()


def test_a_strategy_setting_is_swept_only_where_it_means_something():
    cfgs = plan(SweepSpec(TINY.replace(target="digits:rotate=2"),
                          (parse_dim("strategy=dann,coral"), parse_dim("dann_weight=0.1,1"))))
    # DANN twice; CORAL once (its runs would be the same run twice)
    assert [(c.strategy, dict(c.extra).get("dann_weight")) for c in cfgs] == [
        ("dann", 0.1), ("dann", 1.0), ("coral", None)]
    assert describe(cfgs[2], (Dim("strategy", ("dann",)), Dim("dann_weight", (0.1,)))) == \
        "strategy=coral dann_weight=-"
    assert describe(plan(spec("labels_per_class=all,5"))[0], (Dim("labels_per_class", (None,)),)) == \
        "labels_per_class=all"


@pytest.mark.parametrize(("dims", "kw", "says"), [
    ((), {}, "the space is empty"),
    (("foo=1,2",), {}, "cannot sweep 'foo'"),
    (("lr=0.1", "lr=0.2"), {}, "lr is given twice"),
    (("lr=0.1,0.1",), {}, "a value is given twice"),
    (("lr=-1,0.1",), {}, "lr must be positive"),
    (("lr=0.1:0.01",), {"search": "random"}, "is empty"),
    (("lr=0.001:0.1",), {}, "a grid needs values, not a range, for lr"),
    (("top_k=1,9",), {}, "this backbone has"),
    (("epochs=two",), {}, "epochs takes a whole number"),
    (("dann_weight=0.1,1",), {}, "dann_weight is a setting of dann"),
    (("lr=0.1",), {"metric": "test_accuracy"}, "may not pick by test_accuracy"),
    (("lr=0.1",), {"metric": "target_accuracy"}, "target's labels"),
    (("lr=0.1",), {"metric": "speed"}, "no metric 'speed'"),
    (("backbone=nope",), {}, "unknown backbone 'nope'"),
    (("lr=0.1",), {"trials": 0}, "at least 1"),
])
def test_a_bad_space_is_one_line_before_any_trial(dims, kw, says):
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        plan(SweepSpec(BASE, tuple(parse_dim(d) for d in dims), **kw))


def test_seed_has_its_own_option():
    with pytest.raises(ValueError, match="use --seeds"):
        parse_dim("seed=1,2")


def test_trials_go_through_the_store_and_a_second_sweep_reuses_them(tmp_path):
    store = Store(tmp_path / "s")
    s = spec("lr=0.05,0.0001")
    events = []
    out = run_local(store, s, plan(s), on_event=lambda kind, o: events.append((kind, o.cfg.lr)))
    assert [o.record.status for o in out] == ["done", "done"]
    assert events == [("started", 0.05), ("ended", 0.05), ("started", 0.0001), ("ended", 0.0001)]
    recorded, ids = store.sweep(s.sweep_id())
    assert ids == [c.run_id() for c in plan(s)] and recorded["dims"][0]["values"] == [0.05, 0.0001]
    top = best([o.record for o in out], "val_accuracy")
    assert top.metrics["val_accuracy"] == max(o.record.metrics["val_accuracy"] for o in out)
    again = run_local(store, s, plan(s))
    assert all(o.reused for o in again) and [o.record.metrics for o in again] == [o.record.metrics for o in out]
    assert len(store.list()) == 2 and [(sid, n) for sid, _, _, n in store.sweeps()] == [(s.sweep_id(), 2)]


def test_a_time_budget_starts_no_trial_after_it_and_says_which(tmp_path):
    store = Store(tmp_path / "s")
    s = spec("lr=0.05,0.01,0.001")
    out = run_local(store, s, plan(s), time_budget=1e-9)
    assert [o.skipped for o in out] == [False, True, True]  # the first starts at t=0
    assert out[0].record.status == "done" and len(store.list()) == 1


def test_stopping_cancels_what_is_in_flight_and_the_same_sweep_resumes(tmp_path):
    store = Store(tmp_path / "s")
    s = spec("lr=0.05,0.01,0.001")

    def stop_after_first(kind, o):
        if kind == "ended":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_local(store, s, plan(s), on_event=stop_after_first)
    assert [r.status for r in store.list()] == ["done"]
    out = run_local(store, s, plan(s))
    assert [o.reused for o in out] == [True, False, False]
    assert sorted(r.status for r in store.list()) == ["done"] * 3


@pytest.mark.slow
def test_two_workers_give_the_numbers_one_process_gives(tmp_path):
    """The same trials serially (in this process) and on two background workers, each on
    its share of the cores: identical test accuracy, each trial stored once."""
    # trials of ~1 s each (60 labels per class): a worker polls the queue every 0.5 s, and
    # trials of 0.2 s let the first worker to look drain all four before the other looked
    # (seen in CI even with both workers ready)
    s = SweepSpec(base=BASE.replace(labels_per_class=60, epochs=3),
                  dims=(parse_dim("lr=0.05,0.01"), parse_dim("top_k=1,2")))
    serial = run_local(Store(tmp_path / "a"), s, plan(s))
    store = Store(tmp_path / "b")
    try:
        # both workers ready first: the first to import torch could train all four trials
        # alone (seen once in CI), and the test is of the numbers two workers give
        assert ensure_workers(store.root, 2, idle_exit=30.0, n=2) == [0, 1]
        wait_workers_ready(store.root, (0, 1))
        parallel = run_local(store, s, plan(s), concurrency=2)
        assert len({r.pid for r in store.list()}) == 2  # two workers trained them
    finally:
        stop_pids(_workers_under(str(store.root)))
    assert [o.record.metrics["test_accuracy"] for o in parallel] == \
        [o.record.metrics["test_accuracy"] for o in serial]
    assert len(store.list()) == 4


def _cli(*args: str) -> tuple[int, str]:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["sweep", *args])
    return rc, buf.getvalue()


def test_cli_json_names_the_sweep_its_trials_and_the_best(tmp_path):
    store = str(tmp_path / "s")
    flags = ["--backbone", "lab_mnist", "--dataset", "digits", "--labels-per-class", "5", "--val-per-class",
             "5", "--test-per-class", "20", "--epochs", "2", "--strategy", "finetune_top", "--store", store]
    rc, text = _cli(*flags, "--grid", "lr=0.05,0.0001", "--dry-run", "--json")
    planned = json.loads(text)
    assert rc == 0 and len(planned["trials"]) == 2 and not any(t["stored"] for t in planned["trials"])
    rc, text = _cli(*flags, "--grid", "lr=0.05,0.0001", "--json")
    out = json.loads(text)
    assert rc == 0 and out["sweep_id"] == planned["sweep_id"]
    assert [t["run_id"] for t in out["trials"]] == [t["run_id"] for t in planned["trials"]]
    t0 = out["trials"][0]
    assert set(t0) >= {"run_id", "config", "status", "metrics", "seconds"} and t0["status"] == "done"
    assert out["best"]["score"] == max(t["score"] for t in out["trials"])
    assert _cli(*flags, "--grid", "lr=0.05", "--metric", "test_accuracy")[0] == 2


def test_a_killed_driver_leaves_its_trial_interrupted_and_the_command_resumes(tmp_path):
    """SIGKILL mid-sweep (no chance to clean up): the trial it was training is marked
    interrupted by the store's recovery; the same command trains it and the rest, and the
    store holds each trial once."""
    store = tmp_path / "s"
    cmd = [sys.executable, "-m", "tlcore", "sweep", "--backbone", "lab_mnist", "--dataset", "digits",
           "--labels-per-class", "20", "--epochs", "10", "--strategy", "finetune_all", "--store", str(store),
           "--grid", "lr=0.01,0.003", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (store / "runs.sqlite").exists():
            time.sleep(0.2)
        while time.time() < deadline and not any(r.status == "running" for r in Store(store).list()):
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert [r.status for r in Store(store).list()] == ["interrupted"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(r.status for r in Store(store).list()) == ["done", "done"]


class _Rec:
    """A finished run as TPE reads it: a status and a validation accuracy."""

    def __init__(self, score: float | None) -> None:
        self.status = "done" if score is not None else "failed"
        self.metrics = {"val_accuracy": score} if score is not None else {}
        self.history = []


def test_tpe_moves_towards_the_better_region_of_a_known_objective():
    """An oracle objective (best at lr = 0.01, worse the further away on a log scale): after
    its random start-up points, TPE's later points score well above what uniform draws
    score on average (2/3, in closed form), and its best lr lies within a factor of 3 of the
    optimum."""
    import math

    pytest.importorskip("optuna")
    from tlcore.sweep_tpe import TPESource

    s = spec("lr=0.0001:1:log", search="tpe", trials=24)
    src = TPESource(s)
    scores = []
    while (cfg := src.next()) is not None:
        score = 1 - (math.log10(cfg.lr) + 2) ** 2 / 4
        scores.append(score)
        src.told(cfg, _Rec(score))
    assert len(scores) == 24
    assert sum(scores[12:]) / 12 > 0.8  # random search: 2/3 on average
    assert 0.01 / 3 < src.best_point()["values"]["lr"] < 0.03


def test_tpe_is_told_the_mean_over_seeds_and_repeats_itself(tmp_path):
    pytest.importorskip("optuna")
    from tlcore.sweep_tpe import TPESource

    s = spec("lr=0.001:0.1:log", "top_k=1,2", search="tpe", trials=4, seeds=(0, 1))
    store = Store(tmp_path / "s")
    out = run_local(store, s, [], source=TPESource(s))
    assert len(out) == 8 and all(o.record.status == "done" for o in out)
    assert [(o.cfg.seed) for o in out[:2]] == [0, 1]  # a point's seeds train together
    src = TPESource(s)
    again = run_local(store, s, [], source=src)  # the same points, all from the store
    assert [o.cfg.run_id() for o in again] == [o.cfg.run_id() for o in out] and all(o.reused for o in again)
    first = [o.record.metrics["val_accuracy"] for o in out[:2]]
    assert src.study.trials[0].value == pytest.approx(sum(first) / 2)
    assert store.sweep(s.sweep_id())[1] == [o.cfg.run_id() for o in out]


def test_tpe_space_is_checked_before_anything_and_missing_optuna_says_how(tmp_path, monkeypatch, capsys):
    from tlcore.sweep import check_search

    with pytest.raises(ValueError, match="lr must be positive"):
        check_search(spec("lr=-1:0.1", search="tpe"))  # a bad end of a range
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert main(["sweep", "--store", str(tmp_path), "--search", "tpe", "--random", "lr=0.001:0.1"]) == 2
    assert "pip install -e '.[search]'" in capsys.readouterr().err


def test_early_stopping_stops_the_poor_trials_and_keeps_their_curves(tmp_path):
    """The median rule on a sweep whose answer is known: learning rates of 1e-5 barely move
    from chance, 0.02-0.05 learn. The first three (good) run to the end; the two poor ones
    after them are stopped early, stored as stopped with the epochs they had; the last good
    one is not. Resumed, the sweep keeps the stopped ones as they are."""
    pytest.importorskip("optuna")
    from tlcore.sweep_stop import MedianStop

    s = SweepSpec(BASE.replace(labels_per_class=20, val_per_class=20, epochs=24),
                  (parse_dim("lr=0.05,0.03,0.02,0.00001,0.00002,0.04"),))
    store = Store(tmp_path / "s")
    out = run_local(store, s, plan(s), stopper=MedianStop(s.metric, warmup=8))  # as the CLI: a third
    got = {o.cfg.lr: (o.record.status, len(store.get(o.record.id).history)) for o in out}
    assert [got[lr][0] for lr in (0.05, 0.03, 0.02, 0.04)] == ["done"] * 4, got
    for lr in (0.00001, 0.00002):
        status, epochs = got[lr]
        assert status == "stopped" and 8 <= epochs < 24, got
        assert "stopped early" in store.get(out[[o.cfg.lr for o in out].index(lr)].record.id).message
    assert best([o.record for o in out], "val_accuracy").config.lr in (0.05, 0.03, 0.02, 0.04)
    again = run_local(store, s, plan(s), stopper=MedianStop(s.metric, warmup=8))
    assert all(o.reused for o in again)
    assert [o.record.status for o in again] == [o.record.status for o in out]


def test_a_space_file_joins_the_flags_and_a_bad_one_is_named(tmp_path, capsys):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"grid": {"top_k": [1, 2], "labels_per_class": [None, 5]},
                                 "random": {"lr": "0.001:0.1:log"}, "trials": 3, "seeds": [0, 1]}))
    rc, text = _cli("--backbone", "lab_mnist", "--dataset", "digits", "--strategy", "finetune_top",
                    "--store", str(tmp_path / "s"), "--space", str(space), "--dry-run", "--json")
    trials = json.loads(text)["trials"]
    assert rc == 0 and len(trials) == 6 and {t["seed"] for t in trials} == {0, 1}  # 3 draws x 2 seeds
    assert all("lr=" in t["values"] and "top_k=" in t["values"] for t in trials)
    (tmp_path / "bad.json").write_text('{"grid": {"lr": [0.1]}, "bogus": 1}')
    assert _cli("--store", str(tmp_path / "s"), "--space", str(tmp_path / "bad.json"))[0] == 2
    assert "unknown key(s) bogus" in capsys.readouterr().err
    (tmp_path / "both.json").write_text('{"grid": {"lr": [0.1, 0.2]}}')
    assert _cli("--store", str(tmp_path / "s"), "--space", str(tmp_path / "both.json"), "--grid", "lr=0.3")[0] == 2
    assert "lr is given twice" in capsys.readouterr().err
