"""How many background workers serve one store, and starting them atomically.

``TLAB_WORKERS`` sets how many runs may train at once on this machine. The default is a
quarter of the cores, at least one: on a 2-core laptop one worker (two half-machines train
a small net no faster, and each worker process holds ~800 MB), on 16 cores four. Each
worker sets torch's (and, for its child libraries, OpenMP's and MKL's) threads to its
share of the cores but one, ``(cores - 1) // workers`` and at least 1
(``TLAB_WORKER_THREADS`` sets it outright), so N concurrent runs do not fight over the
same cores (measured before: four workers with default threads on 2 cores).

Why one core is left out: torch's threads wait on each other at every operation, so a run
whose threads cover every core slows down out of all proportion as soon as anything else
needs a core. Measured with ``bench/bench_first_answer.py --busy 1`` (one busy process
beside the app, as a browser or another program on a laptop): the first classic
comparison answered after 88.8 s with a two-thread worker on 2 cores (its scratch run took
83 s, 2.9 s alone) and after 8.7 s with a one-thread worker. Idle, both answered in
6.6-6.7 s: the browser and the server use the second core while a person watches anyway.

Worker ``k`` holds ``worker.lock`` (k = 0) or ``worker-k.lock`` while it lives and writes
its pid beside it (``worker.pid``, ``worker-k.pid``): the kernel drops a lock when its
holder dies, so a slot is free exactly when no live worker holds it. Starting workers
holds ``worker.spawn.lock`` for the check and the spawn, and writes each child's pid at
once, so sessions clicking within the same second start the workers they need between
them, not one each.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tlcore.runs import Store

ENV = "TLAB_WORKERS"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count() -> int:
    """``TLAB_WORKERS``, or a quarter of the cores (at least 1); ``ValueError`` naming the
    variable for anything but a whole number from 1 to 64."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return max(1, cores() // 4)
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise ValueError(f"{ENV} must be a whole number of workers from 1 to 64, got {raw!r}; "
                         "unset it for a quarter of the cores")
    return int(raw)


THREADS_ENV = "TLAB_WORKER_THREADS"


def thread_share(workers: int | None = None) -> int:
    """Threads for one worker's runs: ``TLAB_WORKER_THREADS``, or its share of the cores but
    one (left to the server, the browsers and the rest of the machine), at least 1."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        if not raw.isdigit() or not 1 <= int(raw) <= 256:
            raise ValueError(f"{THREADS_ENV} must be a whole number of threads from 1 to 256, got {raw!r}; "
                             "unset it for each worker's share of the cores")
        return int(raw)
    return max(1, (cores() - 1) // (workers or worker_count()))


def _name(slot: int, suffix: str) -> str:
    return f"worker.{suffix}" if slot == 0 else f"worker-{slot}.{suffix}"


def pid_path(root: Path, slot: int) -> Path:
    return Path(root) / _name(slot, "pid")


def lock_path(root: Path, slot: int) -> Path:
    return Path(root) / _name(slot, "lock")


def log_path(root: Path, slot: int) -> Path:
    return Path(root) / _name(slot, "log")


@contextmanager
def flock(path: Path, blocking: bool) -> Iterator[bool]:
    """An exclusive ``flock`` on ``path`` for the ``with`` block; yields whether it was
    taken (always, when ``blocking``). Per open file, so it excludes threads of one process
    as well as other processes, and the kernel drops it when its holder dies."""
    f = open(path, "a")  # noqa: SIM115 (closed below)
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        f.close()


def alive_slots(root: Path, n: int | None = None) -> list[int]:
    """Slots (of the first ``n``, default ``worker_count()``) whose pid file names a live
    process."""
    from tlcore.runs import _pid_alive

    out = []
    for slot in range(n or worker_count()):
        try:
            if _pid_alive(int(pid_path(root, slot).read_text().strip())):
                out.append(slot)
        except (OSError, ValueError):
            pass
    return out


def ensure_workers(root: Path, queued: int, idle_exit: float = 600.0, n: int | None = None) -> list[int]:
    """Start workers for free slots, as many as ``queued`` runs need (at least one when
    none is alive) and no more than ``n`` (default ``worker_count()``: a sweep asks for its
    own concurrency); returns the slots started."""
    n = n or worker_count()
    with flock(Path(root) / "worker.spawn.lock", blocking=True):
        alive = alive_slots(root, n)
        want = min(n, max(1, queued)) - len(alive)
        started = [s for s in range(n) if s not in alive][:max(0, want)]
        env = {**os.environ, ENV: str(n)}
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # BLAS threads, unless set on purpose
            env.setdefault(var, str(thread_share(n)))
        for slot in started:
            with open(log_path(root, slot), "ab") as log:  # the child keeps its own copy
                child = subprocess.Popen(
                    [sys.executable, "-m", "tlcore", "worker", "--store", str(root), "--idle-exit",
                     str(idle_exit), "--slot", str(slot)],
                    stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True, env=env,
                    cwd=str(Path(__file__).resolve().parent.parent))
            pid_path(root, slot).write_text(str(child.pid))  # the child writes the same
    return started


def worker_alive(store: Store) -> bool:
    """Whether any worker of ``store`` is alive."""
    return bool(alive_slots(store.root))


def ensure_worker(store: Store, idle_exit: float = 600.0) -> bool:
    """Start background workers for ``store``'s queued runs (up to ``TLAB_WORKERS``,
    atomically); True if one was started. It lives here, not beside the worker loop in
    ``tlcore.jobs``, so a page that queues runs imports no torch (Home's first paint)."""
    return bool(ensure_workers(store.root, store.counts().get("queued", 0), idle_exit))
