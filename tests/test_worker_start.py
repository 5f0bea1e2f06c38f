"""One worker per store, however many sessions click at once (issue #14: 3-4 simultaneous
clicks used to start 3-4 workers for one store): checked with real processes, each stopped
before the test ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from tests.conftest import _running, _workers_under
from tlcore.jobs import ensure_worker, worker_alive
from tlcore.runs import Store


def _stop(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + 20
    while any(_running(p) for p in pids) and time.time() < deadline:
        time.sleep(0.2)


def test_sessions_clicking_at_once_start_one_worker(tmp_path):
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
        _stop(_workers_under(str(store.root)))


def test_a_second_worker_on_one_store_leaves_at_once(tmp_path):
    store = Store(tmp_path / "store")
    cmd = [sys.executable, "-m", "tlcore", "worker", "--store", str(store.root), "--idle-exit", "60"]
    first = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not worker_alive(store) and time.time() < deadline:
            time.sleep(0.2)
        assert int((store.root / "worker.pid").read_text()) == first.pid
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0 and "another worker serves" in second.stderr, second.stderr
        assert first.poll() is None and int((store.root / "worker.pid").read_text()) == first.pid
    finally:
        first.terminate()
        first.communicate(timeout=30)
