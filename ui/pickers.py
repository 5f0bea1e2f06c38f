"""Widgets bound to the shared setup, which stays the one source of truth.

Every run a bound widget's state is first set from the current setup (``bind``), then the
widget is drawn without a default; a user's change goes through an ``on_change`` callback
(``setter``) that writes the setup before the page reruns. So a setup changed elsewhere
(another page, a copied link, an upload) shows up in the widgets, and a widget never
writes back a stale value over it. A change the config refuses (``ValueError``) is kept
and shown by ``show_errors`` instead of crashing the callback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from tlcore.config import RunConfig
from tlcore.data import SHIFTS, DomainSpec, parse_domain
from tlcore.estimate import Plan, apply_edits, lr_multiplier
from ui.state import set_setup, update_setup, widget_callback

ERRORS = "tl_setup_errors"
NEW_SEVERITY = 3  # a newly added shift starts clearly visible


def bind(key: str, value: Any) -> str:
    """Set widget ``key`` to ``value`` (the setup's) before the widget is drawn."""
    st.session_state[key] = value
    return key


def setter(key: str, to_changes: Callable[[Any], dict]) -> Callable[[], None]:
    """An ``on_change`` callback: the setup fields ``to_changes(widget value)``."""

    @widget_callback
    def apply() -> None:
        try:
            update_setup(**to_changes(st.session_state[key]))
        except (ValueError, KeyError) as e:
            st.session_state.setdefault(ERRORS, []).append(str(e))

    return apply


def show_errors() -> None:
    for e in st.session_state.pop(ERRORS, []):
        st.error(f"That change was not applied: {e}", icon=":material/error:")


def dataset_options(cfg: RunConfig) -> list[str]:
    """What a dataset picker offers: the registered datasets available here, this data
    folder's uploads, and a path the setup names (from a link) even if it is gone, so its
    preview can explain."""
    from tlcore.data import DATASETS, list_datasets
    from tlcore.preview import list_uploads

    avail = list_datasets(available_only=True)
    options = avail + [u for u in list_uploads() if u not in avail]
    for text in (cfg.dataset, cfg.target):
        base = parse_domain(text).dataset if text else None
        if base and base not in options and base not in DATASETS:
            options.append(base)
    return options


def domain_picker(prefix: str, field: str, text: str, options: list[str],
                  label: Callable[[str], str]) -> None:
    """Dataset, shifts and one severity slider per shift, writing ``field`` ("dataset" or
    "target") of the setup as a domain text such as ``mnist:rotate=3,blur=1``."""
    spec = parse_domain(text)
    bind(f"{prefix}_ds", spec.dataset if spec.dataset in options else options[0])
    bind(f"{prefix}_shifts", [n for n, _ in spec.shifts])
    for n, s in spec.shifts:
        bind(f"{prefix}_sev_{n}", s)

    def compose() -> dict:
        ss = st.session_state
        shifts = tuple((n, int(ss.get(f"{prefix}_sev_{n}", NEW_SEVERITY))) for n in ss[f"{prefix}_shifts"])
        return {field: DomainSpec(ss[f"{prefix}_ds"], shifts).text}

    @widget_callback
    def write() -> None:
        try:
            update_setup(**compose())
        except (ValueError, KeyError) as e:
            st.session_state.setdefault(ERRORS, []).append(str(e))

    st.selectbox("Dataset", options, format_func=label, key=f"{prefix}_ds", on_change=write)
    st.multiselect("Shifts (corruptions applied in this order)", SHIFTS.names(), key=f"{prefix}_shifts",
                   on_change=write, placeholder="none: the images as they are",
                   help="; ".join(f"**{s.name}**: {s.description}" for s in SHIFTS))
    for n, _ in spec.shifts:
        st.slider(f"{n} severity", 0, 5, key=f"{prefix}_sev_{n}", on_change=write,
                  help=f"{SHIFTS.get(n).description}. 0 leaves the images unchanged.")



def layer_table(cfg: RunConfig, p: Plan, key: str) -> None:
    """The layer groups as an editable table: a trains toggle and an LR multiplier per group.

    An edit becomes a config (``estimate.apply_edits``: toggles make a custom plan) and the
    page reruns with a fresh table (a new key) drawn from it, so stale edits never linger
    over a preset chosen later. The head cannot be frozen: unticking it is explained.
    """
    first = p.phases[0]
    rows = pd.DataFrame([{"group": g.name, "output shape": " × ".join(map(str, g.output_shape)),
                          "parameters": g.params, "trains": g.name in first.trainable,
                          "LR ×": lr_multiplier(cfg, g.name)} for g in p.groups])
    rev = st.session_state.setdefault(f"{key}_rev", 0)
    edited = st.data_editor(rows, key=f"{key}_{rev}", hide_index=True, width="stretch",
                            disabled=["group", "output shape", "parameters"], column_config={
                                "parameters": st.column_config.NumberColumn(format="localized"),
                                "trains": st.column_config.CheckboxColumn(help="Untick to freeze the group"),
                                "LR ×": st.column_config.NumberColumn(
                                    min_value=0.0, max_value=10.0, step=0.01,
                                    help="This group's learning rate = head LR × this")})
    trains, mults = (edited.set_index("group")[c].to_dict() for c in ("trains", "LR ×"))
    new = apply_edits(cfg, p, trains, mults)
    if new != cfg or not trains.get("head", True):
        st.session_state[f"{key}_head_note"] = not trains.get("head", True)
        set_setup(new)
        st.session_state[f"{key}_rev"] = rev + 1
        st.rerun()
    if st.session_state.pop(f"{key}_head_note", False):
        st.info("The head is new for your classes, so it always trains.", icon=":material/info:")
