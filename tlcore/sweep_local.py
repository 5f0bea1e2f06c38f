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
from dataclasses import dataclass

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


class Engine:
    """Where trials train. ``launch`` one queued trial, ``step`` (train or wait a little and
    return the run ids that ended), ``stop`` what is in flight."""

    def launch(self, rid: str) -> None:
        raise NotImplementedError

    def step(self, inflight: list[str]) -> list[str]:
        raise NotImplementedError

    def stop(self, inflight: list[str]) -> None:
        raise NotImplementedError


@dataclass
class LocalEngine(Engine):
    """This machine: the driver trains (``concurrency`` 1) or background workers do."""

    store: Store
    concurrency: int = 1
    on_progress: Callable[[float, str], None] | None = None

    def launch(self, rid: str) -> None:
        pass  # queued by the driver; a worker, or this process in ``step``, claims it

    def step(self, inflight: list[str]) -> list[str]:
        if self.concurrency == 1:
            from tlcore.jobs import execute

            if self.store.claim(inflight[0]):
                execute(self.store, inflight[0], on_progress=self.on_progress)
            else:  # another process (an app's worker) took it: wait for its result
                time.sleep(0.5)
                self.store.recover()
        else:
            from tlcore.workers import ensure_workers

            ensure_workers(self.store.root, len(inflight), idle_exit=30.0, n=self.concurrency)
            time.sleep(0.5)
            self.store.recover()  # a worker that died leaves its trial interrupted, not running
        return [rid for rid in inflight if self.store.get(rid, history=False).status in FINAL]

    def stop(self, inflight: list[str]) -> None:
        for rid in inflight:
            self.store.request_cancel(rid)


class Source:
    """Where a sweep's trials come from: a fixed plan (``Planned``) or a search that picks
    each trial from the results before it (``tlcore.sweep_tpe``)."""

    def next(self) -> RunConfig | None:
        """The next trial to start, or None (none now: the plan is spent, or the search
        waits for results)."""
        raise NotImplementedError

    def told(self, cfg: RunConfig, record: RunRecord) -> None:
        """``cfg`` ended (or was stored already) with ``record``."""

    def known(self) -> list[RunConfig]:
        """The trials as far as they are known: the whole plan, or those started so far."""
        raise NotImplementedError

    def rest(self) -> list[RunConfig]:
        """The trials not started, to list as skipped when the time budget is spent."""
        return []


@dataclass
class Planned(Source):
    cfgs: list[RunConfig]

    def __post_init__(self) -> None:
        self.todo = list(self.cfgs)

    def next(self) -> RunConfig | None:
        return self.todo.pop(0) if self.todo else None

    def known(self) -> list[RunConfig]:
        return self.cfgs

    def rest(self) -> list[RunConfig]:
        out, self.todo = self.todo, []
        return out


def drive(store: Store, spec: SweepSpec, source: Source, engine: Engine, concurrency: int,
          time_budget: float | None, on_event: Callable[[str, Outcome], None]) -> list[Outcome]:
    """The sweep loop every engine and search shares: keep ``concurrency`` trials in flight,
    reuse stored ones, tell the source each result, stop starting trials when the time
    budget is spent; the store lists the sweep's trials as they become known."""
    if not 1 <= concurrency <= 1024:
        raise ValueError("concurrency must be from 1 to 1024")
    if time_budget is not None and time_budget <= 0:
        raise ValueError("the time budget must be a positive number of seconds")
    sid = spec.sweep_id()
    store.add_sweep(sid, spec.to_dict(), [c.run_id() for c in source.known()])
    outcomes: list[Outcome] = []
    inflight: dict[str, Outcome] = {}
    t0 = time.monotonic()
    try:
        while True:
            while len(inflight) < concurrency:
                if outcomes and time_budget is not None and time.monotonic() - t0 > time_budget:
                    for cfg in source.rest():  # the first trial always starts
                        outcomes.append(out := Outcome(cfg, skipped=True))
                        on_event("skipped", out)
                    break
                cfg = source.next()
                if cfg is None:
                    break
                outcomes.append(out := Outcome(cfg))
                store.add_sweep(sid, spec.to_dict(), [c.run_id() for c in source.known()])
                rid, _ = store.submit(cfg, owner=sid)
                if store.get(rid, history=False).status in ("done", "diverged"):  # stored before
                    out.record, out.reused = store.get(rid), True
                    on_event("reused", out)
                    source.told(cfg, out.record)
                    continue
                inflight[rid] = out
                engine.launch(rid)
                on_event("started", out)
            if not inflight:  # nothing to wait for, and the source has no more
                break
            for rid in engine.step(list(inflight)):
                out = inflight.pop(rid)
                out.record = store.get(rid)
                on_event("ended", out)
                source.told(out.cfg, out.record)
    except BaseException:
        engine.stop(list(inflight))
        raise
    return outcomes


def run_local(store: Store, spec: SweepSpec, cfgs: list[RunConfig], *, concurrency: int = 1,
              time_budget: float | None = None,
              on_event: Callable[[str, Outcome], None] = lambda kind, out: None,
              on_progress: Callable[[float, str], None] | None = None,
              source: Source | None = None) -> list[Outcome]:
    """Train ``cfgs`` (``tlcore.sweep.plan(spec)``; or what ``source`` offers, a search)
    through ``store``, recorded as sweep ``spec.sweep_id()``; returns one ``Outcome`` per
    trial, in order. ``on_event(kind,
    outcome)`` hears ``started``, ``reused``, ``ended`` and ``skipped``; ``on_progress``, a
    trial trained here (serial) as it trains."""
    if not 1 <= concurrency <= 64:
        raise ValueError("concurrency must be from 1 to 64 on this machine")
    return drive(store, spec, source or Planned(cfgs), LocalEngine(store, concurrency, on_progress),
                 concurrency, time_budget, on_event)
