"""Opt-in timing of script runs, for load tests (``bench/bench_load.py``).

With ``TLAB_RERUN_LOG=FILE`` set, every full script run of ``app.py``, every poll of a
live view and every poll of the sidebar's run counts appends one JSON line to FILE: its
kind (``full``, ``poll`` or ``counts``), the session,
the wall seconds it took and the CPU seconds its thread used. Wall time under load is
what a person waits for (it includes waiting for the GIL behind other sessions); CPU
time is what a poll costs the cores the runs train on. Unset, it costs one dict lookup.
A line is one ``write`` on a file opened for appending, so sessions' threads and
several server processes do not interleave within a line.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "TLAB_RERUN_LOG"


def _session() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def start() -> tuple[float, float] | None:
    """The clocks at a run's start (None when ``TLAB_RERUN_LOG`` is unset)."""
    return (time.perf_counter(), time.thread_time()) if os.environ.get(ENV) else None


def stop(kind: str, started: tuple[float, float] | None, extra: dict | None = None) -> None:
    """Log the run ``start`` began as one ``kind`` run (with ``extra``'s fields)."""
    path = os.environ.get(ENV)
    if started is None or not path:
        return
    line = {"kind": kind, "at": round(time.time(), 3), "session": _session(),
            "s": round(time.perf_counter() - started[0], 5), "cpu": round(time.thread_time() - started[1], 5),
            **(extra or {})}
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
    except OSError:  # a timing log must never break the page
        pass


@contextmanager
def timed(kind: str) -> Iterator[dict]:
    """Time the block as one ``kind`` run, when ``TLAB_RERUN_LOG`` is set; what the block
    puts in the dict it is given is logged with it (a poll says whether it built its curves again)."""
    started = start()
    extra: dict = {}
    try:
        yield extra
    finally:  # st.rerun and st.stop leave by exceptions: they are runs too
        stop(kind, started, extra)
