"""Running stored runs: in this process (``execute``) or in a background worker process.

A UI queues runs with ``Store.submit`` and calls ``ensure_worker``; the worker (``tlcore
worker``) claims queued runs one at a time and writes progress, epochs and results to
the store, so the caller can navigate away, reload, or be restarted. Cancelling sets a
flag in the store that the trainer checks every batch (throttled to a few reads per
second).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from tlcore.runs import Store
from tlcore.train import Callbacks, RunResult, run
from tlcore.trained import model_payload


def execute(store: Store, rid: str, *, fast_path: bool = True,
            on_progress: Callable[[float, str], None] | None = None) -> RunResult | None:
    """Run stored run ``rid`` here (it must already be marked running or queued).

    A queued run is claimed atomically first; if another process claimed it in the
    meantime this returns None and leaves the run to it.
    """
    rec = store.get(rid, history=False)
    if rec is None:
        raise KeyError(f"no run {rid}")
    if rec.status == "queued" and not store.claim(rid):
        return None
    last = {"t": 0.0, "cancel_t": 0.0, "cancel": False, "calls": 0}

    def progress(frac: float, msg: str) -> None:
        now = time.monotonic()
        if on_progress:
            on_progress(frac, msg)
        if now - last["t"] > 0.5 or frac >= 1:
            store.progress(rid, frac, msg)
            last["t"] = now

    def cancelled() -> bool:
        # read the store every 0.25 s, and at least every 16 batches: fast runs (cached
        # features) finish hundreds of steps within one time window
        now = time.monotonic()
        last["calls"] += 1
        if now - last["cancel_t"] > 0.25 or last["calls"] >= 16:
            last["cancel"] = store.cancel_requested(rid)
            last["cancel_t"] = now
            last["calls"] = 0
        return last["cancel"]

    cb = Callbacks(progress=progress, epoch=lambda r: store.add_epoch(rid, r), cancelled=cancelled)
    try:
        result = run(rec.config, cb, fast_path=fast_path)
    except Exception as e:  # a bad config or missing data: record why, keep the worker alive
        msg = f"{type(e).__name__}: {e}"
        store.finish(rid, "failed", message=msg)
        if not isinstance(e, (ValueError, KeyError, RuntimeError)):
            traceback.print_exc()
        return None
    if result.artifacts:
        try:
            store.save_artifacts(rid, result.artifacts)
            if result.model_state is not None:
                payload = model_payload(result.config, result.model_state,
                                        result.metrics.get("class_names", []),
                                        [f["sha256"] for f in result.provenance["weights"].get("files", [])])
                result.provenance["model"] = store.save_model(rid, payload)
        except OSError as e:  # a full disk or read-only folder: a failed run, not a dead worker
            store.finish(rid, "failed", metrics=result.metrics, seconds=result.seconds,
                         provenance=result.provenance,
                         message=f"trained, but the results could not be written to "
                                 f"{store.artifact_dir(rid)}: {e.strerror or e} (disk full or read-only?)")
            return None
    store.finish(rid, result.status, metrics=result.metrics, message=result.message,
                 seconds=result.seconds, provenance=result.provenance)
    return result


def worker_loop(store: Store, idle_exit: float = 300.0, poll: float = 0.5) -> int:
    """Claim and execute queued runs until none has come for ``idle_exit`` seconds."""
    done = 0
    idle_since = time.monotonic()
    pidfile = store.root / "worker.pid"
    pidfile.write_text(str(os.getpid()))
    try:
        while True:
            rid = store.claim_next()
            if rid is None:
                if time.monotonic() - idle_since > idle_exit:
                    return done
                time.sleep(poll)
                continue
            execute(store, rid)
            done += 1
            idle_since = time.monotonic()
    finally:
        if pidfile.is_file() and pidfile.read_text().strip() == str(os.getpid()):
            pidfile.unlink(missing_ok=True)


def worker_alive(store: Store) -> bool:
    from tlcore.runs import _pid_alive

    pidfile = store.root / "worker.pid"
    try:
        return _pid_alive(int(pidfile.read_text().strip()))
    except (OSError, ValueError):
        return False


def ensure_worker(store: Store, idle_exit: float = 600.0) -> bool:
    """Start a detached worker for ``store`` unless one is alive; True if one was started."""
    if worker_alive(store):
        return False
    log = open(store.root / "worker.log", "ab")  # noqa: SIM115 (handed to the child)
    subprocess.Popen(
        [sys.executable, "-m", "tlcore", "worker", "--store", str(store.root), "--idle-exit", str(idle_exit)],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    for _ in range(50):  # wait until it has written its pid, so a second call sees it
        if worker_alive(store):
            break
        time.sleep(0.1)
    return True
