"""Shared test set-up: keep run stores in temp dirs; reuse the user dataset cache."""

from __future__ import annotations

import os

import pytest
import torch

# AppTests run app.py in this process: skip its background UMAP compile (the browser
# test's server turns it back on).
os.environ.setdefault("TLAB_WARMUP", "0")
# Nor start a worker as each session opens (hundreds of AppTest sessions would each spawn
# one); tests that train start theirs by queueing, as before.
os.environ.setdefault("TLAB_PRESTART_WORKER", "0")

# Two cores in CI: more threads only adds contention.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module that times or runs single images: on a shared
    2-core machine a second thread only waits (a lab-net predict took 205 ms with two
    threads at load 11, 4.7 ms with one)."""
    was = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(was)


@pytest.fixture
def tmp_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TLAB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _workers_under(root: str) -> list[int]:
    """Pids of ``tlcore worker`` processes whose store lies under ``root``."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "worker" in args and "--store" in args:
            store = args[args.index("--store") + 1] if args.index("--store") + 1 < len(args) else ""
            if store.startswith(root):
                pids.append(int(d))
    return pids


@pytest.fixture(scope="session", autouse=True)
def _no_worker_left_behind(tmp_path_factory):
    """Stop every background worker a test's app started (two sessions clicking at once can
    start two, and only one is in the store's pid file): the suite leaves no process."""
    yield
    stop_pids(_workers_under(str(tmp_path_factory.getbasetemp())))


def stop_pids(pids: list[int], grace: float = 10.0) -> None:
    """SIGTERM each of ``pids``, wait up to ``grace`` s for them to end, then SIGKILL what
    is left (a worker mid-run ignores nothing but this)."""
    import signal
    import time

    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + grace
    while pids and time.time() < deadline:
        pids = [p for p in pids if _running(p)]
        time.sleep(0.2)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False
