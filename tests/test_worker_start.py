"""The workers a store gets are the number asked for, however many sessions click at once
(issue #14: 3-4 simultaneous clicks used to start 3-4 workers for one store), and
``TLAB_WORKERS`` of them share the cores: checked with real processes, each stopped
before the test ends."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import _workers_under, stop_pids
from tests.engine_helpers import TINY, wait_workers_ready
from tlcore import workers
from tlcore.runs import FINAL, Store
from tlcore.workers import ensure_worker, worker_alive


def test_sessions_clicking_at_once_start_one_worker(tmp_path, monkeypatch):
    monkeypatch.setenv(workers.ENV, "1")
    store = Store(tmp_path / "store")
    gate, started = threading.Barrier(8), []

    def click() -> None:
        gate.wait()
        started.append(ensure_worker(store, idle_exit=60))

    threads = [threading.Thread(target=click) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert started.count(True) == 1, started
        assert worker_alive(store)
        time.sleep(1.0)  # a second spawn, had there been one, is a process by now
        pids = _workers_under(str(store.root))
        assert len(pids) == 1 and int((store.root / "worker.pid").read_text()) == pids[0], pids
        assert ensure_worker(store) is False  # later clicks find it alive
    finally:
        stop_pids(_workers_under(str(store.root)))


def test_a_second_worker_on_one_store_leaves_at_once(tmp_path):
    store = Store(tmp_path / "store")
    cmd = [sys.executable, "-m", "tlcore", "worker", "--store", str(store.root), "--idle-exit", "60"]
    env = {**os.environ, workers.ENV: "1"}
    first = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 60
        while not worker_alive(store) and time.time() < deadline:
            time.sleep(0.2)
        assert int((store.root / "worker.pid").read_text()) == first.pid
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        assert second.returncode == 0 and "all 1 worker slots" in second.stderr, second.stderr
        assert first.poll() is None and int((store.root / "worker.pid").read_text()) == first.pid
    finally:
        first.terminate()
        first.communicate(timeout=30)


def test_workers_setting_is_checked_and_shares_the_cores(monkeypatch):
    monkeypatch.setattr(workers, "cores", lambda: 16)
    monkeypatch.delenv(workers.ENV, raising=False)
    monkeypatch.delenv(workers.THREADS_ENV, raising=False)
    # a quarter of the cores, and their share of all cores but one (left to the server)
    assert workers.worker_count() == 4 and workers.thread_share() == 3
    monkeypatch.setattr(workers, "cores", lambda: 2)
    assert workers.worker_count() == 1 and workers.thread_share() == 1  # a laptop: one worker, one thread
    monkeypatch.setattr(workers, "cores", lambda: 1)
    assert workers.thread_share() == 1  # never below one thread
    monkeypatch.setattr(workers, "cores", lambda: 4)
    monkeypatch.setenv(workers.ENV, "3")
    assert workers.worker_count() == 3 and workers.thread_share() == 1
    for bad in ("0", "two", "-1", "65"):
        monkeypatch.setenv(workers.ENV, bad)
        with pytest.raises(ValueError, match=f"TLAB_WORKERS must be a whole number.*{bad!r}"):
            workers.worker_count()
    monkeypatch.setenv(workers.THREADS_ENV, "1")  # set on purpose: it wins over the share
    assert workers.thread_share() == 1 and workers.thread_share(1) == 1
    monkeypatch.setenv(workers.THREADS_ENV, "many")
    with pytest.raises(ValueError, match="TLAB_WORKER_THREADS must be a whole number"):
        workers.thread_share()


@pytest.mark.slow
def test_two_workers_train_queued_runs_at_once_on_their_share(tmp_path, monkeypatch):
    """TLAB_WORKERS=2: two processes, each on half the cores, take the queue between them;
    every run is trained once."""
    monkeypatch.setenv(workers.ENV, "2")
    store = Store(tmp_path / "store")
    try:
        assert workers.ensure_workers(store.root, 2, idle_exit=30) == [0, 1]
        assert workers.alive_slots(store.root) == [0, 1]
        wait_workers_ready(store.root, (0, 1))  # both ready before the runs come
        ids = [store.submit(TINY.replace(seed=s, epochs=3))[0] for s in range(6)]
        assert ensure_worker(store) is False  # both slots taken
        deadline = time.time() + 300
        while time.time() < deadline and not all(store.get(i, history=False).status in FINAL for i in ids):
            time.sleep(0.5)
        recs = [store.get(i, history=False) for i in ids]
        assert [r.status for r in recs] == ["done"] * 6, [(r.status, r.message) for r in recs]
        pids = {int(workers.pid_path(store.root, k).read_text()) for k in (0, 1)}
        assert {r.pid for r in recs} == pids  # both trained, each run by one of them
        share = workers.thread_share(2)
        for k in (0, 1):
            assert f"worker {k} of 2: {share} torch threads" in workers.log_path(store.root, k).read_text()
    finally:
        stop_pids(_workers_under(str(store.root)))
