"""What a fresh server process leaves until the browser has painted its first page.

Home's first paint on a fresh server must take under 3 s on 2 cores
(``bench/bench_first_answer.py --paint-only``). After the page's elements arrive, the
browser needs about a core for a second to paint them, so nothing heavy may run then:
not torch and the models (~5 s of a core to import, holding the GIL the server's sender
needs too), not a worker process importing them, not UMAP's warm-up. Until the process
has loaded them (``ready``):

* ``app.py`` draws the page without starting a worker, then calls ``after_page``: it adds
  an invisible fragment whose timer the browser runs once it is done painting. Its first
  run starts this session's worker and, once per process, the thread that imports
  ``PRELOAD`` (torch, the models, the strategies, the freeze planner). It does not hold
  off while runs train: it is done in seconds, and until then the browser asks every
  ``POLL_S`` (each rerun costs the server CPU too);
* pages draw what needs those modules later: Home a note where its workflow diagram goes;
* Home's diagram place is a fragment of its own on the same timer: it draws the diagram
  once the thread has imported them (``loaded``), without a full rerun, which would close
  a popover the person had opened or race a click (seen twice in CI). The next full rerun
  (the person's next click) stops both timers; after that page app.py starts UMAP's
  warm-up (``tlcore.embed.warm_up``), which would otherwise take the cores (and the GIL).

Each full run decides once, at its start (``begin``), so app.py and the page agree even when
the thread finishes mid-run. ``TLAB_WARMUP=0`` turns all this off (the tests' AppTests do):
nothing runs in the background, and pages import what they need in their own run.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable

import streamlit as st

# Imported in this order by the preload thread: torch and torchvision, the models'
# registry, the strategies, and the freeze planner that Home's diagram and the Model page use.
PRELOAD = ("torch", "torchvision", "tlcore.models", "tlcore.strategies", "tlcore.estimate",
           "tlcore.workflow")
POLL_S = 1.0  # the browser's timer: its first tick comes once the page is painted
_KEY = "tl_warm_ready"  # session state: whether this full run found the process ready

_lock = threading.Lock()
_loaded = threading.Event()  # set once the thread has imported PRELOAD (or failed to)
_thread: dict[str, threading.Thread] = {}


def enabled() -> bool:
    return os.environ.get("TLAB_WARMUP", "1") != "0"


def begin() -> bool:
    """At the start of each full run (app.py): whether pages may import torch and the
    models in this run; the answer holds for the whole run (``ready``)."""
    st.session_state[_KEY] = ok = not enabled() or _loaded.is_set()
    return ok


def ready() -> bool:
    """Whether this run may import torch and the models (see ``begin``)."""
    return st.session_state.get(_KEY, not enabled() or _loaded.is_set())


def loaded() -> bool:
    """Whether torch and the models are imported now: for a fragment's rerun, in which
    ``ready`` still holds its full run's answer."""
    return not enabled() or _loaded.is_set()


def after_page(prestart: Callable[[], None]) -> None:
    """At the end of a full run that was not ``ready`` (app.py): once the browser has
    painted, ``prestart()`` (this session's worker) and start the import thread (once per
    process); when it is done, rerun the page."""
    if ready():
        return
    inline = [True]

    @st.fragment(run_every=POLL_S)
    def painted() -> None:
        if inline:  # called by this run itself: the browser has not painted the page yet
            return
        prestart()
        start()
        # No st.rerun() once loaded: a forced full rerun ~10-15 s after the paint closed a
        # popover the person had opened and raced a sidebar click (browser tests, twice in
        # CI). Home's diagram fragment draws itself instead; this timer, which only a full
        # rerun stops, costs ~2 ms a second until the person's next click.

    with st.sidebar:
        painted()
    inline.clear()  # every later call comes from the browser's timer


def start() -> threading.Thread:
    """The thread that imports ``PRELOAD``, started once per process (later calls return it)."""
    with _lock:
        if "t" not in _thread:
            t = threading.Thread(target=_preload, name="server-preload", daemon=True)
            t.start()
            _thread["t"] = t
        return _thread["t"]


def _preload() -> None:
    try:
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except Exception:  # warming is an optimisation; the page that imports it reports errors
                pass
    finally:
        _loaded.set()


def umap_warm_up(wait_while: Callable[[], bool] | None = None) -> None:
    """At the end of a ``ready`` full run (app.py): UMAP's warm-up, started once per process
    (``tlcore.embed.warm_up``: it holds off while ``wait_while`` says so)."""
    if enabled():
        from tlcore.embed import warm_up

        warm_up(wait_while=wait_while)
