"""Running a sweep's trials on this machine, through the run store.

The driver keeps ``concurrency`` trials in flight and no more: it queues the next trial
when one ends, so a sweep of fifty does not fill the queue ahead of a classmate's run
(the queue is first come, first served), and a time budget can stop it between trials.
With ``concurrency`` 1 the driver trains each trial itself, in this process; above 1 it
starts that many background workers (``tlcore.workers``), each on its share of the cores,
and watches the store. Either way the store is the one record: a trial already stored is
reused, not retrained.

Stopping: Ctrl-C (or SIGTERM) cancels the trials in flight and queues no more; a trial the
driver itself was training is left ``interrupted`` (the store's recovery marks it). The
same command again resumes: finished trials are reused, the rest train.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tlcore.config import RunConfig
from tlcore.runs import FINAL, RunRecord, Store
from tlcore.sweep import SweepSpec


@dataclass
class Outcome:
    """What became of one trial: its record (None if it never started), whether the store
    already had it, and ``skipped`` when the time budget ran out before it."""

    cfg: RunConfig
    record: RunRecord | None = None
    reused: bool = False
    skipped: bool = False


@dataclass
class _Driver:
    store: Store
    concurrency: int
    on_event: Callable[[str, Outcome], None]
    on_progress: Callable[[float, str], None] | None = None
    inflight: dict[str, Outcome] = field(default_factory=dict)

    def start(self, out: Outcome) -> None:
        rid, _ = self.store.submit(out.cfg)
        rec = self.store.get(rid, history=False)
        if rec.status in ("done", "diverged"):  # stored before: reuse it
            out.record, out.reused = self.store.get(rid), True
            self.on_event("reused", out)
            return
        self.inflight[rid] = out
        self.on_event("started", out)

    def step(self) -> None:
        """Train one trial here (serial), or make sure workers serve the queue (parallel),
        then collect every trial that has ended."""
        if self.concurrency == 1:
            from tlcore.jobs import execute

            rid = next(iter(self.inflight))
            if self.store.claim(rid):
                execute(self.store, rid, on_progress=self.on_progress)
            else:  # another process (an app's worker) took it: wait for its result
                time.sleep(0.5)
                self.store.recover()
        else:
            from tlcore.workers import ensure_workers

            ensure_workers(self.store.root, len(self.inflight), idle_exit=30.0, n=self.concurrency)
            time.sleep(0.5)
            self.store.recover()  # a worker that died leaves its trial interrupted, not running
        for rid, out in list(self.inflight.items()):
            rec = self.store.get(rid)
            if rec.status in FINAL:
                out.record = rec
                del self.inflight[rid]
                self.on_event("ended", out)

    def stop(self) -> None:
        for rid in self.inflight:
            self.store.request_cancel(rid)


def run_local(store: Store, spec: SweepSpec, cfgs: list[RunConfig], *, concurrency: int = 1,
              time_budget: float | None = None,
              on_event: Callable[[str, Outcome], None] = lambda kind, out: None,
              on_progress: Callable[[float, str], None] | None = None) -> list[Outcome]:
    """Train ``cfgs`` (``tlcore.sweep.plan(spec)``) through ``store``, recorded as sweep
    ``spec.sweep_id()``; returns one ``Outcome`` per trial, in order. ``on_event(kind,
    outcome)`` hears ``started``, ``reused``, ``ended`` and ``skipped``; ``on_progress``, a
    trial trained here (serial) as it trains."""
    if not 1 <= concurrency <= 64:
        raise ValueError("concurrency must be from 1 to 64")
    if time_budget is not None and time_budget <= 0:
        raise ValueError("the time budget must be a positive number of seconds")
    store.add_sweep(spec.sweep_id(), spec.to_dict(), [c.run_id() for c in cfgs])
    outcomes = [Outcome(c) for c in cfgs]
    todo = list(outcomes)
    d = _Driver(store, concurrency, on_event, on_progress)
    t0 = time.monotonic()
    try:
        while todo or d.inflight:
            while todo and len(d.inflight) < concurrency:
                spent = time_budget is not None and time.monotonic() - t0 > time_budget
                if spent and len(todo) < len(outcomes):  # the first trial always starts
                    for out in todo:
                        out.skipped = True
                        on_event("skipped", out)
                    todo.clear()
                    break
                d.start(todo.pop(0))
            if d.inflight:
                d.step()
    except BaseException:
        d.stop()
        raise
    return outcomes
