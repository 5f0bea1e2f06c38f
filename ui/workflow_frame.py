"""The workflow diagram's frame: its heading and the space it takes, without torch.

``ui.workflow`` draws the diagram itself and imports torch and the models; on a fresh
server Home draws this frame first, with a note in a box of the diagram's own size, and
the diagram replaces the box once the models are loaded (``app_pages/home.py``). The box
keeps its place: the Run button below must not jump when the diagram arrives (it moved
484 px at a 1280 px window, under the pointer of a person about to click it).
"""

from __future__ import annotations

import streamlit as st

# viewBox: about the main column's width at a 1280 px browser with the sidebar open
# (820 px), so text is drawn near its nominal size there and scales down below that
WIDTH, HEIGHT = 860, 426
PAD = 2  # the viewBox's margin on each side


def heading() -> None:
    st.header("The transfer learning workflow")
    st.caption(
        "How a pretrained network is reused for a new task, filled in with the current setup. "
        "Click a box to open the page where that step is chosen."
    )


def placeholder(note: str) -> None:
    """The heading, and ``note`` in a box as wide and tall as the diagram will be (the SVG
    is 100% wide up to its viewBox width, its height following the viewBox's ratio)."""
    heading()
    w, h = WIDTH + 2 * PAD, HEIGHT + 2 * PAD
    st.markdown(
        f'<div class="tl-workflow-wait" style="width:100%;max-width:{WIDTH}px;aspect-ratio:{w}/{h};'
        "display:flex;align-items:center;justify-content:center;border:1px dashed #adb5bd;"
        f'border-radius:8px;box-sizing:border-box;color:#52606d">{note}</div>',
        unsafe_allow_html=True,
    )
