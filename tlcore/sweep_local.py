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

    def stop_early(self, rid: str) -> None:
        """Tell trial ``rid`` to end early (the store's flag is already set)."""

    watch: Callable[[], None] | None = None  # the driver's early-stopping check, for engines that block


@dataclass
class LocalEngine(Engine):
    """This machine: the driver trains (``concurrency`` 1) or background workers do."""

    store: Store
    concurrency: int = 1
    on_progress: Callable[[float, str], None] | None = None

    def launch(self, rid: str) -> None:
        pass  # queued by the driver; a worker, or this process in ``step``, claims it

    trains_here = True  # concurrency 1: this process trains (tlcore.sweep_driver's QueueEngine: never)

    def start_workers(self, queued: int) -> None:
        """Background workers for ``queued`` trials: ``concurrency`` of them at most."""
        from tlcore.workers import ensure_workers

        ensure_workers(self.store.root, queued, idle_exit=30.0, n=self.concurrency)

    def step(self, inflight: list[str]) -> list[str]:
        if self.concurrency == 1 and self.trains_here:
            from tlcore.jobs import execute

            if self.store.claim(inflight[0]):
                execute(self.store, inflight[0], on_progress=self._progress())
            else:  # another process (an app's worker) took it: wait for its result
                time.sleep(0.5)
                self.store.recover()
        else:
            self.start_workers(len(inflight))
            time.sleep(0.5)
            self.store.recover()  # a worker that died leaves its trial interrupted, not running
        return [rid for rid in inflight if self.store.get(rid, history=False).status in FINAL]

    def stop(self, inflight: list[str]) -> None:
        for rid in inflight:
            self.store.request_cancel(rid)

    def _progress(self) -> Callable[[float, str], None] | None:
        """The progress hook for a trial trained here: the bar, and every 0.1 s the
        driver's early-stopping check (this process is busy training, so it asks from here)."""
        if self.watch is None:
            return self.on_progress
        last = [0.0]

        def hook(frac: float, msg: str) -> None:
            if self.on_progress:
                self.on_progress(frac, msg)
            if time.monotonic() - last[0] > 0.1:
                last[0] = time.monotonic()
                self.watch()

        return hook


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


@dataclass
class _Sweep:
    """The sweep loop's state; ``drive`` runs it."""

    store: Store
    spec: SweepSpec
    source: Source
    engine: Engine
    concurrency: int
    time_budget: float | None
    on_event: Callable[[str, Outcome], None]
    stopper: object = None
    ws: str = ""  # the workspace that lists the trials (tlcore.workspaces)

    def __post_init__(self) -> None:
        self.sid = self.spec.sweep_id()
        self.reusable = ("done", "diverged") + (("stopped",) if self.stopper else ())
        self.outcomes: list[Outcome] = []
        self.inflight: dict[str, Outcome] = {}
        self.t0 = time.monotonic()
        if self.stopper:
            self.engine.watch = self.check_stops

    def record_trials(self) -> None:
        """List the sweep's trials in the store: once for a fixed plan, again whenever a
        search has asked a new one (not once per trial started: a plan of n would be n² rows)."""
        ids = [c.run_id() for c in self.source.known()]
        if len(ids) != getattr(self, "_recorded", -1):
            self.store.add_sweep(self.sid, self.spec.to_dict(), ids)
            self._recorded = len(ids)

    def fill(self) -> None:
        """Start trials until ``concurrency`` are in flight or the source has none now."""
        while len(self.inflight) < self.concurrency:
            spent = self.time_budget is not None and time.monotonic() - self.t0 > self.time_budget
            if spent and self.outcomes:  # the first trial always starts
                for cfg in self.source.rest():
                    self.outcomes.append(out := Outcome(cfg, skipped=True))
                    self.on_event("skipped", out)
                return
            cfg = self.source.next()
            if cfg is None:
                return
            self.outcomes.append(out := Outcome(cfg))
            self.record_trials()
            self.start(out)

    def start(self, out: Outcome) -> None:
        rid = out.cfg.run_id()
        have = self.store.get(rid, history=False)
        if not (have and have.status in self.reusable):
            self.store.submit(out.cfg, owner=self.sid, ws=self.ws)
        else:
            self.store.list_in(self.ws, [rid])
        if self.store.get(rid, history=False).status in self.reusable:  # stored before
            out.record, out.reused = self.store.get(rid), True
            self.on_event("reused", out)
            self.told(out)
            return
        self.inflight[rid] = out
        self.engine.launch(rid)
        self.on_event("started", out)

    def told(self, out: Outcome) -> None:
        self.source.told(out.cfg, out.record)
        if self.stopper:
            self.stopper.ended(out.cfg.run_id(), out.record)

    def collect(self) -> None:
        for rid in self.engine.step(list(self.inflight)):
            out = self.inflight.pop(rid)
            out.record = self.store.get(rid)
            self.on_event("ended", out)
            self.told(out)
        if self.stopper and self.inflight:
            self.check_stops()

    def check_stops(self) -> None:
        for rid in self.stopper.watch(self.store, list(self.inflight)):
            self.store.request_stop(rid)
            self.engine.stop_early(rid)


def drive(store: Store, spec: SweepSpec, source: Source, engine: Engine, concurrency: int,
          time_budget: float | None, on_event: Callable[[str, Outcome], None], stopper=None,
          ws: str = "") -> list[Outcome]:
    """The sweep loop every engine and search shares: keep ``concurrency`` trials in flight,
    reuse stored ones, tell the source each result, stop starting trials when the time
    budget is spent; the store lists the sweep's trials as they become known. ``stopper``
    (``tlcore.sweep_stop.MedianStop``): stops poor trials early. ``ws``: the workspace
    that lists every trial, trained or reused."""
    if not 1 <= concurrency <= 1024:
        raise ValueError("concurrency must be from 1 to 1024")
    if time_budget is not None and time_budget <= 0:
        raise ValueError("the time budget must be a positive number of seconds")
    sw = _Sweep(store, spec, source, engine, concurrency, time_budget, on_event, stopper, ws)
    sw.record_trials()
    try:
        while True:
            sw.fill()
            if not sw.inflight:  # nothing to wait for, and the source has no more
                return sw.outcomes
            sw.collect()
    except BaseException:
        engine.stop(list(sw.inflight))
        raise


def run_local(store: Store, spec: SweepSpec, cfgs: list[RunConfig], *, concurrency: int = 1,
              time_budget: float | None = None,
              on_event: Callable[[str, Outcome], None] = lambda kind, out: None,
              on_progress: Callable[[float, str], None] | None = None,
              source: Source | None = None, stopper=None, ws: str = "") -> list[Outcome]:
    """Train ``cfgs`` (``tlcore.sweep.plan(spec)``; or what ``source`` offers, a search)
    through ``store``, recorded as sweep ``spec.sweep_id()``; returns one ``Outcome`` per
    trial, in order. ``on_event(kind,
    outcome)`` hears ``started``, ``reused``, ``ended`` and ``skipped``; ``on_progress``, a
    trial trained here (serial) as it trains."""
    if not 1 <= concurrency <= 64:
        raise ValueError("concurrency must be from 1 to 64 on this machine")
    return drive(store, spec, source or Planned(cfgs), LocalEngine(store, concurrency, on_progress),
                 concurrency, time_budget, on_event, stopper, ws)
