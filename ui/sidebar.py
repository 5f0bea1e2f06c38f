"""The sidebar every page shares: the current setup at a glance and the run queue."""

from __future__ import annotations

import streamlit as st

from tlcore.names import domain_label
from ui.state import get_setup, page_link
from ui.store import get_store


def sidebar() -> None:
    cfg = get_setup()
    with st.sidebar:
        st.markdown("**Current setup**")
        target = f" → `{domain_label(cfg.target)}`" if cfg.target else ""
        labels = "all" if cfg.labels_per_class is None else cfg.labels_per_class
        st.markdown(
            f"Backbone `{cfg.backbone}` ({cfg.weights or 'pretrained'})  \n"
            f"Data `{domain_label(cfg.dataset)}`{target}  \n"
            f"{labels} labels per class · strategy `{cfg.strategy}`  \n"
            f"{cfg.epochs} epochs · lr {cfg.lr:g} · seed {cfg.seed}"
        )
        queue_counts()


@st.fragment(run_every=2.0)
def queue_counts() -> None:
    """Live counts: a page may queue runs after the sidebar was drawn (the sidebar draws
    first), and runs finish while pages poll only their own fragments. One COUNT query."""
    n = get_store().counts()
    active = n.get("queued", 0) + n.get("running", 0)
    st.caption(f"{sum(n.values())} runs stored · {n.get('running', 0)} running · "
               f"{n.get('queued', 0)} queued" if active else f"{sum(n.values())} runs stored · none running")


def copy_link() -> None:
    """The link that reopens this page as it is now (setup and the page's choices), with a
    copy button: what a teacher pastes into the class chat."""
    with st.sidebar:
        st.markdown("**Copy link**", help="Opens this page with the same setup and choices, "
                    "in another tab or on another machine reaching this server.")
        st.code(page_link(), language=None, wrap_lines=False)
