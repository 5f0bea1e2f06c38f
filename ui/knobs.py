"""A widget per strategy setting, drawn from the strategy's own declaration
(``tlcore.strategies.knobs.Knob``), so a page never names a setting itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from tlcore.strategies.knobs import Knob


def knob_input(knob: Knob, key: str, value: Any = None, *, n_groups: int | None = None,
               label: str | None = None, on_change: Callable[[], None] | None = None):
    """The widget for ``knob`` and its value. ``value`` None: the widget is bound by ``key``
    (``ui.pickers.bind``). ``n_groups``: the backbone's body groups, the upper limit of a
    knob that counts them."""
    high = min(knob.high, n_groups) if knob.groups and n_groups is not None else knob.high
    kw: dict[str, Any] = {"key": key, "help": knob.help, "on_change": on_change}
    label = label or knob.title
    if knob.kind == "bool":
        return st.toggle(label, **kw, **({} if value is None else {"value": bool(value)}))
    if knob.kind == "int":
        low, high = int(knob.low), int(high)
        if value is not None:
            kw["value"] = min(max(int(value), low), high)
        return int(st.number_input(label, low, high, step=1, **kw))
    if value is not None:
        kw["value"] = min(max(float(value), knob.low), high)
    return float(st.number_input(label, float(knob.low), float(high), format="%g", **kw))
