"""A preset button that asks first and can be undone (engine: ``tlcore.presets``).

Pressing it lists what the preset would change ("This will change: ...") with Apply and
Cancel; Apply writes the new setup through ``ui.state.set_setup`` (so the URL follows) and
keeps the setup it replaced. While the setup is still the one the preset made, an Undo
button with a one-line summary puts the old one back exactly (URL included). Once the
user changes anything else, Undo is withdrawn rather than silently dropping that change;
undoing a later preset brings an earlier one's Undo back, so they unwind in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from tlcore import presets
from tlcore.config import RunConfig
from ui.state import get_setup, md_escape, set_setup

UNDO = "tl_preset_undo"  # button key -> (setup before, setup after, summary)


def _pending(key: str) -> str:
    return f"{key}_pending"


def _ask(key: str) -> None:
    st.session_state[_pending(key)] = True


def _cancel(key: str) -> None:
    st.session_state[_pending(key)] = False


def _apply(key: str, preset: RunConfig | Mapping[str, Any]) -> None:
    """Apply to the setup as it is now (what the list on screen was computed from)."""
    st.session_state[_pending(key)] = False
    before = get_setup()
    try:
        after = presets.apply(before, preset)
    except ValueError as e:
        st.session_state[f"{key}_error"] = str(e)
        return
    line = presets.summary(presets.diff(before, after))
    st.session_state.setdefault(UNDO, {})[key] = (before, after, line)
    set_setup(after)


def _undo(key: str) -> None:
    before, _, _ = st.session_state.get(UNDO, {}).pop(key)
    set_setup(before)


def _change_list(rows: list[presets.Change]) -> str:
    return "\n".join(f"- **{c.field}**: {md_escape(c.before)} → {md_escape(c.after)}"
                     + (f" *({md_escape(c.why)})*" if c.why else "") for c in rows)


def preset_button(label: str, preset: RunConfig | Mapping[str, Any], key: str,
                  help: str | None = None, icon: str | None = None) -> None:
    """Draw the button, its confirm step and its Undo. Returns nothing: every change goes
    through callbacks, so the page below already sees the new setup on this run."""
    cfg = get_setup()
    try:
        rows = presets.changes(cfg, preset)
    except ValueError as e:  # a preset that cannot apply here says why, and changes nothing
        rows, error = [], str(e)
    else:
        error = st.session_state.pop(f"{key}_error", "")
    st.button(label, key=key, icon=icon, help=help, on_click=_ask, args=(key,),
              disabled=bool(error))
    if error:
        st.error(f"This setting cannot be loaded: {md_escape(error)}.", icon=":material/error:")
    elif st.session_state.get(_pending(key)):
        with st.container(border=True, key=f"{key}_confirm"):
            if not rows:
                st.markdown("Your setup already is this setting: nothing to change.")
                st.button("OK", key=f"{key}_cancel", on_click=_cancel, args=(key,))
                return
            st.markdown("**This will change:**\n" + _change_list(rows))
            c1, c2 = st.columns(2)
            c1.button("Apply", key=f"{key}_apply", type="primary", icon=":material/check:",
                      on_click=_apply, args=(key, preset), width="stretch")
            c2.button("Cancel", key=f"{key}_cancel", on_click=_cancel, args=(key,), width="stretch")
    undo = st.session_state.get(UNDO, {}).get(key)
    if undo and undo[1] == cfg and not st.session_state.get(_pending(key)):
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.success(f"Changed {md_escape(undo[2])}.", icon=":material/check_circle:")
        right.button("Undo", key=f"{key}_undo", icon=":material/undo:", on_click=_undo, args=(key,),
                     help="Put back the setup you had before", width="stretch")
