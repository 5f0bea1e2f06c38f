"""Running stored runs: in this process (``execute``) or in a background worker process.

A UI queues runs with ``Store.submit`` and calls ``tlcore.workers.ensure_worker``; the worker (``tlcore
worker``) claims queued runs one at a time and writes progress, epochs and results to
the store, so the caller can navigate away, reload, or be restarted. Cancelling sets a
flag in the store that the trainer checks every batch (throttled to a few reads per
second).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from tlcore.config import RunConfig
from tlcore.estimate import Estimate, estimate_seconds
from tlcore.runs import Store
from tlcore.train import Callbacks, RunResult, run
from tlcore.trained import model_payload

PROGRESS_EVERY_S = 0.5  # a running run's progress row is written at most this often
CANCEL_EVERY_S, CANCEL_EVERY_CALLS = 0.25, 16  # its cancel flag is read this often


def _callbacks(store: Store, rid: str, on_progress: Callable[[float, str], None] | None) -> Callbacks:
    """The trainer's hooks for run ``rid``: progress and epochs go to the store, and the
    cancel flag is read from it, both throttled so the store's writes stay a small part
    of a fast run (``estimate_run`` counts them)."""
    last = {"t": 0.0, "cancel_t": 0.0, "cancel": False, "calls": 0}

    def progress(frac: float, msg: str) -> None:
        now = time.monotonic()
        if on_progress:
            on_progress(frac, msg)
        if now - last["t"] > PROGRESS_EVERY_S or frac >= 1:
            store.progress(rid, frac, msg)
            last["t"] = now

    def cancelled() -> bool:
        # read the store every 0.25 s, and at least every 16 batches: fast runs (cached
        # features) finish hundreds of steps within one time window
        now = time.monotonic()
        last["calls"] += 1
        if now - last["cancel_t"] > CANCEL_EVERY_S or last["calls"] >= CANCEL_EVERY_CALLS:
            last["cancel"] = store.cancel_requested(rid)
            last["cancel_t"] = now
            last["calls"] = 0
        return last["cancel"]

    return Callbacks(progress=progress, epoch=lambda r: store.add_epoch(rid, r), cancelled=cancelled)


def _run_or_fail(store: Store, rid: str, cfg: RunConfig, cb: Callbacks, fast_path: bool
                 ) -> RunResult | None:
    """``run``, or None with the run marked failed and the reason stored."""
    try:
        return run(cfg, cb, fast_path=fast_path)
    except Exception as e:  # a bad config or missing data: record why, keep the worker alive
        msg = f"{type(e).__name__}: {e}"
        store.finish(rid, "failed", message=msg)
        if not isinstance(e, (ValueError, KeyError, RuntimeError)):
            traceback.print_exc()
        return None


def _save_outputs(store: Store, rid: str, result: RunResult) -> bool:
    """Write the run's artifacts and its model (recorded in ``result.provenance["model"]``);
    False with the run marked failed, metrics kept, when the disk refuses them."""
    if not result.artifacts:
        return True
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
        return False
    return True


def execute(store: Store, rid: str, *, fast_path: bool = True,
            on_progress: Callable[[float, str], None] | None = None,
            record_estimate: bool = False) -> RunResult | None:
    """Run stored run ``rid`` here (it must already be marked running or queued).

    A queued run is claimed atomically first; if another process claimed it in the
    meantime this returns None and leaves the run to it. Returns None too when the run
    failed (its reason is in the store).
    """
    rec = store.get(rid, history=False)
    if rec is None:
        raise KeyError(f"no run {rid}")
    if rec.status == "queued" and not store.claim(rid):
        return None
    cb = _callbacks(store, rid, on_progress)
    # record_estimate: probe first and store the estimate with the result. The background
    # worker does not: it estimates its runs when the queue is empty (``add_estimate``);
    # direct calls (CLI, studies) skip the probe's 0.2-4 s
    estimate = _estimate(store, rec.config, fast_path) if record_estimate else None
    result = _run_or_fail(store, rid, rec.config, cb, fast_path)
    if result is None:
        return None
    return result if record(store, rid, result, estimate) else None


def record(store: Store, rid: str, result: RunResult, estimate: dict | None = None) -> bool:
    """Store a finished ``result`` of run ``rid``: its files, its model, its final row.
    False (the run marked failed, metrics kept) when the disk refuses the files. The one
    writer of a result, whether the run trained here or on a Ray node."""
    if result.status == "cancelled" and store.stop_requested(rid):  # a sweep's early stop
        result.status = "stopped"
        result.message = (f"stopped early after {len(result.history)} epoch(s) by the sweep's median rule: "
                          "its validation score was below the median of the trials before it")
    if not _save_outputs(store, rid, result):
        return False
    if estimate is not None and result.status == "done":
        result.metrics["estimated_seconds"] = estimate["seconds"]
        result.provenance["estimate"] = estimate
    store.finish(rid, result.status, metrics=result.metrics, message=result.message,
                 seconds=result.seconds, provenance=result.provenance)
    return True


def add_estimate(store: Store, rid: str) -> None:
    """Record the estimate for finished run ``rid`` beside its time, made now: the probe
    times a few steps on random batches, whatever ran before, so it predicts the run as
    the Model page would have (with this process's probe cache)."""
    rec = store.get(rid, history=False)
    if rec is None or rec.status != "done":
        return
    estimate = _estimate(store, rec.config, True)
    if estimate is not None:
        store.add_estimate(rid, estimate)


def estimate_run(store: Store, cfg: RunConfig, *, fast_path: bool = True) -> Estimate:
    """What a run of ``cfg`` through ``execute`` should take here: the trainer's work
    (``tlcore.estimate.estimate_seconds``) plus ``"run records"``, the store writes
    ``execute`` makes while the clock runs (a row per epoch, the progress row at most every
    ``PROGRESS_EVERY_S``, the cancel flag read every ``CANCEL_EVERY_S`` or
    ``CANCEL_EVERY_CALLS`` steps). A write that syncs to disk took ~20 ms here, 4% of a long
    run and a quarter of a sub-second one, so it is measured, on a scratch database beside
    the store. The Model page shows this number and every run records it."""
    est = estimate_seconds(cfg, fast_path=fast_path)
    write, read = _store_costs(store.root)
    steps = int(est.details["steps per epoch"]) * cfg.epochs
    total = est.seconds
    for _ in range(4):  # the writes depend on the run's length: a short fixed-point iteration
        writes = cfg.epochs + 1 + min(steps, total / PROGRESS_EVERY_S)
        reads = min(steps, steps / CANCEL_EVERY_CALLS + total / CANCEL_EVERY_S)
        total = est.seconds + writes * write + reads * read
    return Estimate(total, {**est.parts, "run records": total - est.seconds},
                    {**est.details, "store write ms": round(write * 1000, 2)})


_STORE_COSTS: dict[str, tuple[float, float]] = {}


def _store_costs(root: Path) -> tuple[float, float]:
    """(seconds per write, per read) of a WAL SQLite database in ``root``, as ``Store``
    opens one per call (median of 5 each); measured once per folder and process."""
    import sqlite3
    import statistics
    import tempfile

    key = str(root)
    if key not in _STORE_COSTS:
        with tempfile.TemporaryDirectory(dir=root, prefix=".timing-") as tmp:
            db = Path(tmp) / "t.sqlite"

            def op(sql: str, args: tuple = ()) -> float:
                t = time.perf_counter()
                c = sqlite3.connect(db, timeout=30, isolation_level=None)
                try:
                    c.execute("PRAGMA journal_mode=WAL")
                    c.execute(sql, args)
                finally:
                    c.close()
                return time.perf_counter() - t

            op("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
            write = statistics.median(op("INSERT OR REPLACE INTO t VALUES (1, ?)", (str(i),)) for i in range(5))
            read = statistics.median(op("SELECT v FROM t WHERE k=1") for _ in range(5))
        _STORE_COSTS[key] = (write, read)
    return _STORE_COSTS[key]


def _estimate(store: Store, cfg: RunConfig, fast_path: bool) -> dict | None:
    """``estimate_run`` for this run, made here just before it runs, on the machine and in
    the process that runs it, so every finished run stores its estimate beside its real
    ``seconds`` (the Model page's track record). Its measurements are cached by what
    determines them: the first run of a setup pays the probe (0.2-2 s measured), repeats
    ~10 ms. Never stops a run: a config the estimate cannot time fails in ``run`` with the
    trainer's own message."""
    t = time.perf_counter()
    try:
        est = estimate_run(store, cfg, fast_path=fast_path)
    except Exception:  # noqa: BLE001 (see the docstring: the run reports what is wrong)
        return None
    return {"seconds": round(est.seconds, 3), "parts": {k: round(v, 3) for k, v in est.parts.items()},
            "probe_seconds": round(time.perf_counter() - t, 3), "torch_threads": est.details["torch threads"]}


def worker_loop(store: Store, idle_exit: float = 300.0, poll: float = 0.5, slot: int | None = None) -> int:
    """Claim and execute queued runs until none has come for ``idle_exit`` seconds.

    A worker holds its slot's lock while it lives (``tlcore.workers``): ``slot`` given,
    that one; otherwise the first free one of ``worker_count()``. With none free (two
    servers on one store, a ``tlcore worker`` typed by hand) it returns at once without
    touching any pid file. Its runs use its share of the cores (``thread_share``)."""
    import torch

    from tlcore import workers

    n = workers.worker_count()
    for k in ([slot] if slot is not None else range(n)):
        with workers.flock(workers.lock_path(store.root, k), blocking=False) as mine:
            if mine:
                torch.set_num_threads(workers.thread_share(n))
                print(f"worker {k} of {n}: {torch.get_num_threads()} torch threads", file=sys.stderr, flush=True)
                return _serve(store, workers.pid_path(store.root, k), idle_exit, poll)
    print(f"worker: all {n} worker slots of {store.root} are taken; exiting", file=sys.stderr)
    return 0


def _serve(store: Store, pidfile: Path, idle_exit: float, poll: float) -> int:
    """Serve the queue. Each run's estimate (the Model page's track record) is made when
    the queue is empty, not before the run: its probe (0.2-4 s for a new setup) used to sit
    between a person's click and their answer, once per run of a classic comparison."""
    done = 0
    idle_since = time.monotonic()
    unestimated: list[str] = []
    pidfile.write_text(str(os.getpid()))
    try:
        while True:
            rid = store.claim_next()
            if rid is None:
                if unestimated:
                    add_estimate(store, unestimated.pop(0))
                    continue  # look at the queue again between probes
                if time.monotonic() - idle_since > idle_exit:
                    return done
                time.sleep(poll)
                continue
            t = time.perf_counter()
            if execute(store, rid) is not None:
                unestimated.append(rid)
            # one line per run trained: the load test counts them (a run trained twice shows twice)
            rec = store.get(rid, history=False)
            print(f"worker {os.getpid()}: trained {rid} ({rec.status if rec else 'removed'}) "
                  f"in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
            done += 1
            idle_since = time.monotonic()
    finally:
        if pidfile.is_file() and pidfile.read_text().strip() == str(os.getpid()):
            pidfile.unlink(missing_ok=True)
