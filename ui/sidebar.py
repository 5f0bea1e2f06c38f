"""The sidebar every page shares: the current setup at a glance and the run queue."""

from __future__ import annotations

import streamlit as st

from ui.state import get_setup
from ui.store import get_store


def sidebar() -> None:
    cfg = get_setup()
    with st.sidebar:
        st.markdown("**Current setup**")
        target = f" → `{cfg.target}`" if cfg.target else ""
        labels = "all" if cfg.labels_per_class is None else cfg.labels_per_class
        st.markdown(
            f"Backbone `{cfg.backbone}` ({cfg.weights or 'pretrained'})  \n"
            f"Data `{cfg.dataset}`{target}  \n"
            f"{labels} labels per class · strategy `{cfg.strategy}`  \n"
            f"{cfg.epochs} epochs · lr {cfg.lr:g} · seed {cfg.seed}"
        )
        runs = get_store().list()
        active = [r for r in runs if r.status in ("queued", "running")]
        st.caption(f"{len(runs)} runs stored · {len(active)} queued or running")
