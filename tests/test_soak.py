"""Several sessions and the CLI share one store: every run accounted for, none run twice.

The soak test is bounded (7 tiny runs, 3 session threads, 1 CLI process, 1 worker thread;
about 30 s on 2 cores) and marked slow; it still runs in CI. The test before it pins
the race it found deterministically: ``tlcore run`` used to mark its run as started
unconditionally, so a worker that claimed the queued run first ran it a second time
alongside the CLI.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from tlcore import cli, jobs
from tlcore.config import RunConfig
from tlcore.runs import Store

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = RunConfig(backbone="lab_mnist", dataset="digits", labels_per_class=3, val_per_class=2,
                 test_per_class=5, epochs=1, batch_size=16)
CLI_ARGS = ["--quiet", "--json", "--backbone", "lab_mnist", "--dataset", "digits", "--labels-per-class", "3",
            "--val-per-class", "2", "--test-per-class", "5", "--epochs", "1", "--batch-size", "16"]


def _counting(monkeypatch) -> list[int]:
    """Seeds of every training ``jobs.execute`` starts in this process."""
    calls: list[int] = []
    real = jobs.run

    def run(cfg, cb, **kw):
        calls.append(cfg.seed)
        return real(cfg, cb, **kw)

    monkeypatch.setattr(jobs, "run", run)
    return calls


def test_cli_waits_for_a_run_a_worker_claimed_first(tmp_path, monkeypatch):
    # guards: Store.claim in cmd_run / jobs.execute (was: store.start, unconditional)
    calls = _counting(monkeypatch)
    submit = Store.submit
    threads = []

    def submit_then_worker_claims(self, cfg, rerun=False, **who):
        rid, queued = submit(self, cfg, rerun=rerun, **who)
        worker = Store(self.root)
        assert worker.claim_next() == rid  # the worker wins the race
        threads.append(threading.Thread(target=jobs.execute, args=(worker, rid)))
        threads[-1].start()
        return rid, queued

    monkeypatch.setattr(Store, "submit", submit_then_worker_claims)
    assert cli.main(["run", "--store", str(tmp_path), *CLI_ARGS, "--seed", "7"]) == 0
    for t in threads:
        t.join()
    assert calls == [7]  # trained once, by the worker; the CLI waited for its result
    assert Store(tmp_path).get(BASE.replace(seed=7).run_id()).status == "done"


def test_claim_is_exclusive(tmp_path):
    a, b = Store(tmp_path), Store(tmp_path)
    rid, _ = a.submit(BASE)
    assert [a.claim(rid), b.claim(rid)] == [True, False]
    assert a.get(rid).status == "running" and a.claim_next() is None


@pytest.mark.slow
def test_soak_sessions_cli_and_worker_share_one_store(tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    seeds = list(range(6))
    Store(tmp_path)  # create the schema once, before the crowd arrives
    cli_seed = 2  # also submitted by sessions: the CLI and the worker race for it
    proc = subprocess.Popen([sys.executable, "-m", "tlcore", "run", "--store", str(tmp_path), *CLI_ARGS,
                             "--seed", str(cli_seed)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    submitted: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def session(i: int) -> None:
        try:
            store = Store(tmp_path)  # each session opens its own handle, as the app does
            rng = random.Random(i)
            for s in seeds[i:] + seeds[:i]:  # overlapping: every seed from every session
                rid, _ = store.submit(BASE.replace(seed=s))
                store.get(rid)  # and reads while others write
                store.list()
                with lock:
                    submitted.append(rid)
                time.sleep(rng.uniform(0, 0.2))
        except BaseException as e:  # noqa: BLE001 re-raised in the main thread below
            errors.append(e)

    sessions = [threading.Thread(target=session, args=(i,)) for i in range(3)]
    done = {}
    worker = threading.Thread(target=lambda: done.update(n=jobs.worker_loop(
        Store(tmp_path), idle_exit=4, poll=0.1)))
    for t in [*sessions, worker]:
        t.start()
    for t in sessions:
        t.join(60)
    out, err = proc.communicate(timeout=120)
    worker.join(120)
    assert not errors, errors
    assert not worker.is_alive() and proc.returncode == 0, err[-2000:]

    store = Store(tmp_path)
    ids = {BASE.replace(seed=s).run_id() for s in seeds}
    assert set(submitted) == ids
    recs = store.list()
    assert sorted(r.id for r in recs) == sorted(ids)  # nothing lost, nothing extra
    for r in recs:
        rec = store.get(r.id)
        assert rec.status == "done", (rec.id, rec.status, rec.message)
        assert len(rec.history) == rec.config.epochs
        assert rec.pid in (os.getpid(), proc.pid)
        assert store.load_artifacts(r.id)  # artifacts present and loadable
    # each run trained exactly once: here (worker thread) or in the CLI process
    by_cli = [r for r in recs if r.pid == proc.pid]
    assert len(calls) == len(set(calls)) == done["n"]
    assert done["n"] + len(by_cli) == len(ids)
    assert len(by_cli) <= 1
    with sqlite3.connect(store.db_path) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert c.execute("SELECT COUNT(*) FROM epochs WHERE run_id NOT IN (SELECT id FROM runs)").fetchone()[0] == 0
    assert not list(tmp_path.rglob("*.tmp*"))  # no half-written artifacts
