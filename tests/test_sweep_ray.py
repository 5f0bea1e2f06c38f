"""``tlcore sweep --engine ray`` on a local Ray started once for this module: the same
numbers as the local engine, the driver as the store's one writer (epochs, files, model),
a stopped or killed driver leaving its trials interrupted and the same sweep resuming them,
and clear lines for a missing Ray or an address nothing answers at."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine_helpers import TINY
from tlcore.cli import main
from tlcore.runs import Store
from tlcore.sweep import SweepSpec, parse_dim, plan
from tlcore.sweep_local import run_local

ray = pytest.importorskip("ray", reason="the Ray extra (pip install -e .[ray]); make test installs it")
from tlcore.sweep_ray import run_ray  # noqa: E402  (after the importorskip)

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
BASE = TINY.replace(strategy="finetune_top", epochs=2)
SPEC = SweepSpec(BASE, (parse_dim("lr=0.05,0.001"),))


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_trials_give_the_local_engines_numbers_and_the_driver_stores_everything(tmp_path, one_thread):
    local = run_local(Store(tmp_path / "local"), SPEC, plan(SPEC))  # one thread, as each Ray trial
    store = Store(tmp_path / "ray")
    out = run_ray(store, SPEC, plan(SPEC))
    assert [o.record.status for o in out] == ["done", "done"]
    assert [o.record.metrics["test_accuracy"] for o in out] == [o.record.metrics["test_accuracy"] for o in local]
    for o in out:
        rec = store.get(o.record.id)
        assert len(rec.history) == BASE.epochs  # each epoch came through the mailbox
        assert rec.provenance["ray"]["node_id"] and rec.provenance["torch_threads"] == 1
        assert store.has_model(rec.id) and store.load_artifacts(rec.id)["head"]
    assert store.sweep(SPEC.sweep_id())[1] == [c.run_id() for c in plan(SPEC)]
    again = run_ray(store, SPEC, plan(SPEC))
    assert all(o.reused for o in again) and len(store.list()) == 2


def test_a_stopped_ray_sweep_leaves_its_trials_interrupted_and_resumes(tmp_path):
    store = Store(tmp_path / "s")
    spec = SweepSpec(BASE.replace(epochs=30), (parse_dim("lr=0.05,0.01,0.001"),))

    def stop_when_started(kind, o):
        if kind == "started" and o.cfg.lr == 0.01:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ray(store, spec, plan(spec), concurrency=2, on_event=stop_when_started)
    statuses = {r.config.lr: r.status for r in store.list()}
    assert statuses[0.01] == "interrupted" and statuses[0.05] in ("interrupted", "done")
    out = run_ray(store, spec, plan(spec), concurrency=2)
    assert [o.record.status for o in out] == ["done"] * 3 and len(store.list()) == 3


def test_a_killed_ray_driver_leaves_interrupted_trials_and_the_command_resumes(tmp_path):
    store = tmp_path / "s"
    cmd = [sys.executable, "-m", "tlcore", "sweep", "--backbone", "lab_mnist", "--dataset", "digits",
           "--labels-per-class", "10", "--epochs", "8", "--strategy", "finetune_all", "--store", str(store),
           "--grid", "lr=0.01,0.003", "--engine", "ray", "--concurrency", "1", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # its own Ray's helpers share its group
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not (
                (store / "runs.sqlite").exists() and any(r.status == "running" for r in Store(store).list())):
            time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # Ray's agents outlive a SIGKILLed driver
        except OSError:
            pass
    assert [r.status for r in Store(store).list()] == ["interrupted"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, start_new_session=True)
    assert done.returncode == 0, done.stderr[-2000:]
    recs = Store(store).list()
    assert sorted(r.status for r in recs) == ["done", "done"] and len({r.id for r in recs}) == 2


def test_nothing_at_the_address_is_one_line_before_any_trial(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    t0 = time.time()
    rc = main(["sweep", "--store", str(tmp_path), "--grid", "lr=0.1,0.01", "--engine", "ray", "--address",
               f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert rc == 2 and f"nothing answers at 127.0.0.1:{port}" in err and time.time() - t0 < 30
    assert not (tmp_path / "runs.sqlite").exists() or not Store(tmp_path).list()
    assert main(["sweep", "--store", str(tmp_path), "--grid", "lr=0.1", "--address", "x:1"]) == 2
    assert "--address and --cpus-per-trial are for --engine ray" in capsys.readouterr().err


def test_without_ray_the_engine_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    rc = main(["sweep", "--store", str(tmp_path), "--grid", "lr=0.1", "--engine", "ray"])
    assert rc == 2 and "pip install -e '.[ray]'" in capsys.readouterr().err


def test_early_stopping_reaches_a_trial_on_ray(tmp_path):
    """The median rule's stop goes through the mailbox to the Ray task; the trial is
    stored stopped with the epochs it had, the learning ones done."""
    pytest.importorskip("optuna")
    from tlcore.sweep_stop import MedianStop

    s = SweepSpec(BASE.replace(labels_per_class=20, val_per_class=20, epochs=24),
                  (parse_dim("lr=0.05,0.03,0.02,0.00001"),))
    store = Store(tmp_path / "s")
    out = run_ray(store, s, plan(s), concurrency=1, stopper=MedianStop(s.metric, warmup=8))
    got = {o.cfg.lr: (o.record.status, len(store.get(o.record.id).history)) for o in out}
    assert [got[lr][0] for lr in (0.05, 0.03, 0.02)] == ["done"] * 3, got
    assert got[0.00001][0] == "stopped" and 8 <= got[0.00001][1] < 24, got
