"""A compact live view for experiments that queue dozens of runs (a label-budget sweep,
the Yosinski grid): one progress bar for the whole grid instead of one per run, and the
experiment's chart redrawn from the runs finished so far, so a class sees it fill in."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from tlcore.runs import FINAL, RunRecord
from ui.runview import records
from ui.sidebar import LIVE_FLAG
from ui.store import feed, get_store, queue_cap, stored_ids
from ui.workspace import admin, canceller, current


def run_grid(label: str, configs, key: str, draw, on_submit: Callable[[list[str]], None] | None = None) -> bool:
    """The Run button for a grid, then its live view: of this session's submission, or of
    the runs the store already holds for these configs. False when there is nothing to show.
    ``on_submit(ids)``: called with every trial's id (a sweep records its trials). A grid
    larger than the session's queue cap is fed in as runs finish (``ui.store.feed``)."""
    if st.button(label, type="primary", disabled=not configs, key=f"{key}_run", icon=":material/play_arrow:"):
        st.session_state[f"{key}_ids"] = ids = [c.run_id() for c in configs]
        feed(configs, key)
        if on_submit:
            on_submit(ids)
    ids = st.session_state.get(f"{key}_ids") or stored_ids(configs)
    if ids:
        live_grid(ids, key, draw)
    return bool(ids)


def live_grid(ids: Sequence[str], key: str, draw: Callable[[list[RunRecord], bool], None]) -> list[RunRecord]:
    """Poll ``ids`` every 1.5 s while any is queued, running or waiting for room in the
    queue (topped up at each poll); ``draw(records, finished)`` renders the experiment from
    the records so far."""
    recs = records(ids, key)
    pending = f"{key}_pending"
    active = any(r.status not in FINAL for r in recs) or bool(st.session_state.get(pending))
    if active:  # the sidebar's counts then poll less often (ui.sidebar.queue_counts)
        st.session_state[LIVE_FLAG] = True

    @st.fragment(run_every=1.5 if active else None)
    def view() -> None:
        waiting = feed(st.session_state[pending], key) if st.session_state.get(pending) else 0
        now = records(ids, key)
        n_done = sum(r.status in FINAL for r in now)
        finished = bool(now) and not st.session_state.get(pending) and n_done == len(now)
        running = [r for r in now if r.status == "running"]
        if not finished:
            text = f"{n_done} of {len(ids)} runs finished"
            if running:
                r = running[0]
                text += f"; now {r.config.strategy}, {r.config.labels_per_class} labels/class, seed {r.config.seed}"
            if waiting:
                text += f"; {waiting} wait for room in the queue (at most {queue_cap()} per session)"
            c1, c2 = st.columns([5, 1])
            c1.progress(n_done / max(1, len(ids)), text=text)
            if c2.button("Stop all", key=f"{key}_stop", icon=":material/stop:"):
                st.session_state[pending] = []
                may_cancel = canceller()
                for r in now:
                    if r.status in ("queued", "running") and may_cancel(r):
                        get_store().cancel_as(r.id, current(), admin())
        bad = [r for r in now if r.status in FINAL and r.status != "done"]
        if bad:
            st.warning(f"{len(bad)} runs did not finish ({', '.join(sorted({r.status for r in bad}))}); "
                       "the chart leaves them out. Re-run them from the Train page.", icon=":material/warning:")
        draw(now, finished)
        if active and finished:
            st.rerun()  # a full rerun stops the polling

    view()
    return recs
