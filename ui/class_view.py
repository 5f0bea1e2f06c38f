"""The teacher view (``tlcore.classview``): everyone's results of one lesson step in this
workspace, a dot per student's run, refreshed while any of them trains."""

from __future__ import annotations

import streamlit as st

from tlcore import classview, plots
from tlcore.names import pair_label
from tlcore.strategies import STRATEGIES
from tlcore.strategies import title as strategy_title
from ui import workspace
from ui.store import get_store

LIMIT = 600  # runs read for the view, newest first: a lesson's worth for a class of 30


def _step_label(step: classview.Step) -> str:
    c = step.example.config
    labels = "all" if c.labels_per_class is None else c.labels_per_class
    who = len(classview.students(step.runs))
    return (f"{c.backbone} · {pair_label(c.dataset, c.target)} · {labels}/class · {c.epochs} epochs "
            f"— {who} {'person' if who == 1 else 'people'}, {len(step.runs)} runs")


def class_results() -> None:
    """The section: pick a step (the one most people ran first), see the dots."""
    ws = workspace.scope()
    recs = get_store().list(ws=ws, limit=LIMIT, newest=True)
    all_steps = classview.steps(recs)
    if not all_steps:
        st.caption(f"No runs {workspace.scope_words()} yet. When the class runs a lesson's step, each "
                   "person's results show here side by side.")
        return
    keys = [s.key for s in all_steps]
    by_key = {s.key: s for s in all_steps}
    key = st.selectbox("Step", keys, format_func=lambda k: _step_label(by_key[k]), key="class_step",
                       help="Runs with the same setup apart from strategy and seed.")
    active = by_key[key].active

    @st.fragment(run_every=3.0 if active else None)
    def view() -> None:
        now = {s.key: s for s in classview.steps(get_store().list(ws=ws, limit=LIMIT, newest=True))}
        step = now.get(key)
        if step is None:
            st.caption("This step's runs were removed.")
            return
        named = get_store().names(r.owner for r in step.runs)
        pts = classview.points(step, named)
        waiting = sum(r.status in ("queued", "running") for r in step.runs)
        if pts:
            titles = {n: strategy_title(n) for n in STRATEGIES.names()}
            y = "target accuracy" if step.example.config.target else "test accuracy"
            st.plotly_chart(plots.class_dots(pts, titles, y), key="class_dots")
        st.caption(f"{len(pts)} finished runs from {len(classview.students(step.runs, named))} people"
                   + (f"; {waiting} still queued or training (this view refreshes)" if waiting else "")
                   + ". Same seed, same run: two people who picked one seed share its dot (hover for "
                   "who and which seed).")
        if active and not waiting:
            st.rerun()  # stop polling

    view()
