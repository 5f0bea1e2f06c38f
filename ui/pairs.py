"""A source -> target pair's problems, said before anything is queued (the Domain
adaptation and Train pages): errors disable the queue button, notes are shown beside it.
The check itself is ``tlcore.data.pairs``, the trainer's and the CLI's too."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from tlcore.config import RunConfig
from tlcore.data import parse_domain
from tlcore.data.pairs import PairCheck, check_config


@st.cache_data(max_entries=16, show_spinner="Checking that the two domains share their classes…")
def _pair_check(dataset: str, target: str, seed: int, test_per_class: int, stamps: tuple) -> PairCheck:
    """``check_config`` once per pair and what it reads (``stamps``: the user files' change
    times, so an edited folder is read again)."""
    return check_config(RunConfig(dataset=dataset, target=target, seed=seed, test_per_class=test_per_class))


def stamps(cfg: RunConfig) -> tuple:
    """Change times of the user files ``cfg`` names: part of the keys of caches over them."""
    out = []
    for text in (cfg.dataset, cfg.target):
        spec = parse_domain(text)
        if spec.is_path and Path(spec.dataset).exists():
            out.append(Path(spec.dataset).stat().st_mtime_ns)
    return tuple(out)


def pair_check(cfg: RunConfig) -> bool:
    """The pair's problems said before anything is queued; whether runs may start (always,
    without a target)."""
    if not cfg.target:
        return True
    check = _pair_check(cfg.dataset, cfg.target, cfg.seed, cfg.test_per_class, stamps(cfg))
    for e in check.errors:
        st.error(e, icon=":material/error:")
    for n in check.notes:
        st.info(n, icon=":material/palette:")
    return check.ok

