"""A sweep's driver as a background process, so the app can run what a script run cannot
drive: a model-based search (TPE picks each trial from the scores before it) and Ray.

The Experiments page writes the sweep down (``launch``: its spec, engine, trials at once
and workspace, in ``<store>/sweep_drivers/<sweep id>.json``) and starts
``python -m tlcore.sweep_driver FILE``, a process of its own that outlives the page's
script runs and the person's browser. It drives ``tlcore.sweep_local.drive`` exactly as
``tlcore sweep`` does, and keeps the same file up to date (``state``: starting, running,
done, stopped, failed), which the page polls with the store's trials. ``stop`` sends it
SIGTERM: the trials in flight are cancelled, the finished ones stay, and starting the same
sweep again resumes it (finished trials are reused), as the command line's Ctrl-C does.

Engines:

* ``local``: the trials go through the store's queue to this server's background workers
  (``tlcore.workers``), the same fair queue and the same ``TLAB_WORKERS`` cores as every
  other run on a class server; the driver itself trains nothing (``QueueEngine``).
* ``ray``: a Ray on this machine, or the cluster at ``address`` (``tlcore.sweep_ray``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from tlcore.runs import Store
from tlcore.sweep import SweepSpec
from tlcore.sweep_local import LocalEngine

ENGINES = ("local", "ray")
LIVE = ("starting", "running")  # states in which the driver process should be alive


def path(root: str | os.PathLike, sid: str) -> Path:
    return Path(root) / "sweep_drivers" / f"{sid}.json"


def _write(p: Path, doc: dict) -> None:
    tmp = p.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, p)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie (a child of this process that exited) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def state(root: str | os.PathLike, sid: str) -> dict | None:
    """The driver's record for sweep ``sid``, or None if the app never started one. A live
    state whose process is gone (killed, the machine restarted) reads ``died``, with the
    end of its log."""
    p = path(root, sid)
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if doc.get("state") in LIVE and not _alive(doc.get("pid")):
        log = p.with_suffix(".log")
        tail = log.read_text(errors="replace")[-600:] if log.is_file() else ""
        doc = {**doc, "state": "died", "message": "the sweep's process ended without a result" +
               (f"; its log ends: {tail.strip()}" if tail.strip() else "")}
    return doc


def check(spec: SweepSpec, engine: str) -> None:
    """Every refusal before a process starts: an unknown engine, Ray or Optuna missing."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
    if engine == "ray":
        from tlcore.sweep_ray import _ray

        _ray()
    if spec.search == "tpe":
        from tlcore.sweep import check_search
        from tlcore.sweep_tpe import _optuna

        _optuna()
        check_search(spec)


def launch(root: str | os.PathLike, spec: SweepSpec, *, engine: str = "local", concurrency: int = 1,
           address: str | None = None, ws: str = "") -> dict:
    """Start the driver of ``spec`` on the store at ``root`` (ValueError, before anything
    starts, for what ``check`` refuses); returns its state. A driver of the same sweep that
    is still alive is returned as it is, not started twice."""
    check(spec, engine)
    if not 1 <= concurrency <= 64:
        raise ValueError("trials at once must be from 1 to 64")
    sid = spec.sweep_id()
    now = state(root, sid)
    if now and now["state"] in LIVE:
        return now
    p = path(root, sid)
    p.parent.mkdir(parents=True, exist_ok=True)
    doc = {"sweep_id": sid, "spec": spec.to_dict(), "engine": engine, "concurrency": concurrency,
           "address": address or None, "ws": ws, "store": str(Path(root)), "state": "starting",
           "started": time.time(), "pid": None}
    _write(p, doc)
    with open(p.with_suffix(".log"), "ab") as log:  # the child keeps its own copy
        child = subprocess.Popen([sys.executable, "-m", "tlcore.sweep_driver", str(p)], stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    threading.Thread(target=child.wait, name="reap-sweep-driver", daemon=True).start()  # no zombie left
    doc["pid"] = child.pid
    if json.loads(p.read_text()).get("state") == "starting":  # the child may have written already
        _write(p, doc)
    return doc


def stop(root: str | os.PathLike, sid: str) -> bool:
    """Ask sweep ``sid``'s driver to stop (SIGTERM: it cancels its trials in flight and
    records ``stopped``); False when none is alive."""
    doc = state(root, sid)
    if not doc or doc["state"] not in LIVE:
        return False
    try:
        os.kill(doc["pid"], signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


class QueueEngine(LocalEngine):
    """The local engine for a driver beside the app: every trial waits in the store's
    queue for this server's workers (``worker_count()`` of them, on their share of the
    cores), never trained in the driver's own process, which would be one training process
    more than the server was set up for."""

    trains_here = False

    def start_workers(self, queued: int) -> None:
        from tlcore.workers import ensure_workers

        ensure_workers(self.store.root, queued)  # the server's own count and idle time


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run(file: str | os.PathLike) -> int:
    """The driver process: the sweep that ``file`` describes, its state kept in ``file``."""
    from tlcore.sweep import best, plan
    from tlcore.sweep_local import Planned, drive

    p = Path(file)
    doc = json.loads(p.read_text())
    doc.update(state="running", pid=os.getpid())
    _write(p, doc)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        spec = SweepSpec.from_dict(doc["spec"])
        store = Store(doc["store"])
        source = None
        if spec.search == "tpe":
            from tlcore.sweep_tpe import TPESource

            source = TPESource(spec)
        cfgs = [] if source else plan(spec)
        if doc["engine"] == "ray":
            from tlcore.sweep_ray import run_ray

            outs = run_ray(store, spec, cfgs, address=doc["address"], concurrency=doc["concurrency"],
                           source=source, ws=doc["ws"])
        else:
            engine = QueueEngine(store, doc["concurrency"])
            outs = drive(store, spec, source or Planned(cfgs), engine, doc["concurrency"], None,
                         lambda kind, out: None, None, doc["ws"])
        top = best([o.record for o in outs if o.record], spec.metric)
        doc.update(state="done", best=top.id if top else None, trials=len(outs))
    except KeyboardInterrupt:
        doc.update(state="stopped", message="stopped: the trials in flight were cancelled; start the same "
                                            "sweep again to resume it (finished trials are reused)")
    except Exception as e:  # noqa: BLE001 (the page shows what went wrong, the log has the trace)
        traceback.print_exc()
        doc.update(state="failed", message=f"{type(e).__name__}: {e}")
    doc["ended"] = time.time()
    _write(p, doc)
    return 0 if doc["state"] == "done" else 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1]))
