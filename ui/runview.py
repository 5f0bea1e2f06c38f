"""Live views of stored runs: progress bars and curves that refresh while runs train."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from tlcore import plots
from tlcore.compare import label, varying_fields
from tlcore.names import domain_label
from tlcore.runs import FINAL, RunRecord
from ui import rerun_log
from ui.sidebar import LIVE_FLAG
from ui.store import get_store
from ui.workspace import admin, canceller, current

STATUS_ICON = {"queued": ":material/schedule:", "running": ":material/play_circle:",
               "done": ":material/check_circle:", "failed": ":material/error:",
               "cancelled": ":material/stop_circle:", "diverged": ":material/trending_up:",
               "interrupted": ":material/warning:", "stopped": ":material/content_cut:"}


# How often a live view polls the store. Each poll redraws the curves in the browser,
# which on a 2-core laptop takes the cores the runs train on (bench/bench_first_answer.py).
LIVE_POLL_S = 2.0


def records(ids: Sequence[str], key: str | None = None) -> list[RunRecord]:
    """The stored runs among ``ids``, with their epochs. With ``key`` (a live view's), the
    records are kept in the session and a poll first asks the store for every run's state
    in one query (``Store.states``), then reads again only the runs that moved: a poll that
    finds nothing new decodes no config and no epoch (three runs' ``get`` were ~2.5 ms of
    a poll's CPU; a 45-run grid's, far more)."""
    store = get_store()
    if key is None:
        recs = [store.get(i) for i in ids]
        return [r for r in recs if r is not None]
    kept: dict[str, tuple[tuple, RunRecord]] = st.session_state.setdefault(f"{key}_records", {})
    states = store.states(ids)
    out = []
    for rid in ids:
        state = states.get(rid)
        if state is None:
            kept.pop(rid, None)
            continue
        if rid not in kept or kept[rid][0] != state:
            rec = store.get(rid)
            if rec is None:  # removed between the two reads
                continue
            kept[rid] = (state, rec)
        out.append(kept[rid][1])
    return out


def series(recs: Sequence[RunRecord], metric: str, x: str = "epoch") -> list[dict]:
    vary = varying_fields([r.config for r in recs]) or ["strategy"]
    out = []
    for r in recs:
        pts = [h for h in r.history if h.get(metric) is not None]
        out.append({"label": label(r.config, vary), "x": [h[x] for h in pts], "mean": [h[metric] for h in pts]})
    return out


def accuracy_words(r: RunRecord) -> str:
    """A finished run's accuracies, each naming its domain: with a target, the target's
    comes first (what adaptation is for) and the source's is called that."""
    m = r.metrics
    if "target_accuracy" in m:
        return (f"target accuracy {m['target_accuracy']:.1%} ({domain_label(r.config.target)}), "
                f"source test accuracy {m['test_accuracy']:.1%}")
    return f"test accuracy {m['test_accuracy']:.1%}"


def progress_rows(recs: Sequence[RunRecord], key: str, allow_stop: bool = True) -> None:
    vary = varying_fields([r.config for r in recs]) or ["strategy"]
    may_cancel = canceller()
    for r in recs:
        c1, c2 = st.columns([5, 1])
        with c1:
            text = f"{STATUS_ICON.get(r.status, '')} {label(r.config, vary)} — {r.status}"
            if r.status == "running" and r.message:
                text += f" ({r.message})"
            elif r.status == "done" and "test_accuracy" in r.metrics:
                text += ": " + accuracy_words(r) + f" in {r.seconds:.0f} s"
            elif r.message:
                text += f": {r.message}"
            st.progress(min(1.0, r.progress if r.status != "done" else 1.0), text=text)
        with c2:
            if allow_stop and r.status in ("queued", "running"):
                if not may_cancel(r):
                    st.caption("another workspace's run", help="Only the workspace that queued a run "
                               "(or the teacher) can stop it; it is listed here too, and its result is yours.")
                elif st.button("Stop", key=f"{key}_stop_{r.id}", icon=":material/stop:"):
                    get_store().cancel_as(r.id, current(), admin())


def curves_figure(recs: Sequence[RunRecord], metric: str, key: str):
    """The learning curves, built again only when an epoch was added or a run changed
    state. Building the figure was 16 of a poll's ~20 ms of server CPU; a poll that finds
    nothing new (a finished run beside a queued one, a run between epochs) now reuses it,
    and only serialising it remains (~2 ms)."""
    sig = (metric, tuple((r.id, r.status, len(r.history)) for r in recs))
    cached = st.session_state.get(f"{key}_curves_fig")
    if cached is None or cached[0] != sig:
        cached = (sig, plots.curves(series(recs, metric), metric))
        st.session_state[f"{key}_curves_fig"] = cached
    return cached[1]


def live(ids: Sequence[str], key: str, metric: str = "val_acc",
         on_done: Callable[[list[RunRecord]], None] | None = None) -> list[RunRecord]:
    """Progress and curves for ``ids``; polls every ``LIVE_POLL_S`` while any is queued or running.

    ``on_done(records)`` draws the final results *inside* the polling fragment, so they
    appear as soon as the last run ends even if the follow-up full rerun (which stops the
    polling) is delayed or lost by the browser.
    """
    recs = records(ids, key)
    active = any(r.status not in FINAL for r in recs)
    if active:  # the sidebar's counts then poll less often (ui.sidebar.queue_counts)
        st.session_state[LIVE_FLAG] = True

    @st.fragment(run_every=LIVE_POLL_S if active else None)
    def view() -> None:
        with rerun_log.timed("poll") as log:
            log["built"] = _view()

    def _view() -> bool:
        """Draw the view; whether it built the curves again (an epoch or a state was new):
        the load bench costs such polls apart from those that found nothing new."""
        before = st.session_state.get(f"{key}_curves_fig", (None,))[0]
        now = records(ids, key)
        progress_rows(now, key)
        if any(r.history for r in now):
            st.plotly_chart(curves_figure(now, metric, key), key=f"{key}_curves")
        finished = bool(now) and all(r.status in FINAL for r in now)
        if finished and on_done:
            on_done(now)
        if active and finished:
            st.rerun()  # a full rerun stops the polling
        return st.session_state.get(f"{key}_curves_fig", (None,))[0] != before

    view()
    return recs
