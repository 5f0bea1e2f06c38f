"""The Sweep tab's sweeps that a script run cannot drive: a TPE search (each point chosen
from the scores before it), Ray, or fewer trials at once than the server has workers. A
driver process runs them (``tlcore.sweep_driver``, as ``tlcore sweep`` would); this view
starts it, then polls its state and the store's trials, drawn as the tab draws a grid.
"""

from __future__ import annotations

import streamlit as st

from tlcore import sweep_driver
from tlcore.runs import FINAL
from tlcore.sweep import SweepSpec
from ui.runview import records
from ui.sidebar import LIVE_FLAG
from ui.store import get_store
from ui.workspace import admin, current

POLL_S = 1.5


def driver_section(spec: SweepSpec, n_trials: int, engine: str, concurrency: int, address: str | None,
                   draw_for, key: str) -> None:
    """The Start button, then the live view of this session's driver, or of the stored
    driver of the sweep the widgets describe. ``draw_for(spec, cfgs, key)``: the tab's
    plot and table for records."""
    root = get_store().root
    where = "on Ray" + (f" at {address}" if address else " on this machine") if engine == "ray" else \
        "on this server's workers"
    if st.button(f"Start the sweep ({n_trials} trials, {concurrency} at a time {where})", type="primary",
                 key=f"{key}_start", icon=":material/play_arrow:"):
        try:
            sweep_driver.launch(root, spec, engine=engine, concurrency=concurrency, address=address, ws=current())
        except (ValueError, ImportError) as e:
            st.error(f"The sweep did not start: {e}", icon=":material/error:")
        else:
            st.session_state[f"{key}_driver"] = spec
    shown = st.session_state.get(f"{key}_driver")
    if shown is None and sweep_driver.state(root, spec.sweep_id()):
        shown = spec
    if shown is None:
        st.caption("Not run yet. The sweep runs in a process of its own: it goes on if you close the page, "
                   "and this tab shows it again when you come back to the same settings.")
        return
    driver_view(shown, draw_for, key)


def driver_view(spec: SweepSpec, draw_for, key: str) -> None:
    """Poll the driver of ``spec`` every ``POLL_S`` while it is alive: progress, Stop (for
    the workspace that started it, or the teacher), what went wrong, and the trials so far."""
    root, sid = get_store().root, spec.sweep_id()
    active = (sweep_driver.state(root, sid) or {}).get("state") in sweep_driver.LIVE
    if active:  # the sidebar's counts then poll less often (ui.sidebar.queue_counts)
        st.session_state[LIVE_FLAG] = True

    @st.fragment(run_every=POLL_S if active else None)
    def view() -> None:
        doc = sweep_driver.state(root, sid) or {"state": "starting"}
        recorded = get_store().sweep(sid)
        ids = recorded[1] if recorded else []
        recs = records(ids, key) if ids else []
        n_done = sum(r.status in FINAL for r in recs)
        total = spec.most_runs() if spec.search == "tpe" else len(ids)
        live = doc["state"] in sweep_driver.LIVE
        if live:
            c1, c2 = st.columns([5, 1])
            c1.progress(min(1.0, n_done / max(1, total)),
                        text=f"{n_done} of {total} trials finished ({doc.get('engine', 'local')}, "
                             f"{doc.get('concurrency', 1)} at a time)")
            if (doc.get("ws") == current() or admin()) and c2.button("Stop", key=f"{key}_dstop",
                                                                    icon=":material/stop:"):
                sweep_driver.stop(root, sid)
        elif doc["state"] in ("failed", "died"):
            st.error(f"The sweep's process {doc['state']}: {doc.get('message', '')}", icon=":material/error:")
        elif doc["state"] == "stopped":
            st.info(doc.get("message", "stopped"), icon=":material/info:")
        draw_for(spec, [r.config for r in recs], key)(recs, not live)
        if active and not live:
            st.rerun()  # a full rerun stops the polling

    view()
