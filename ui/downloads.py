"""Downloads that take a while to build: a "Prepare" button, then an ordinary download.

Streamlit's deferred downloads (a callable as ``data``) are unreliable in this app: the
file the callable produces is referenced by no script run, and every run's end (a
polling fragment's included: the sidebar's counts, a live run view) sweeps unreferenced
downloads, deleting them on the second sweep. With a fragment every 2 s, a file the
browser fetches more than 2-4 s after it was built is gone, and the download is cancelled
(measured: the Try it page's ONNX download failed so under a loaded CI machine). Bytes
kept in the session and handed to ``st.download_button`` are re-registered by every run
while the button is shown, so they stay until the user leaves.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

PREFIX = "tl_prepared_"


def prepared_download(container, label: str, build: Callable[[], bytes], file_name: str, mime: str, *,
                      key: str, help: str | None = None, version: str = "", prepare: str | None = None) -> None:
    """A ``prepare`` button (``Prepare <label>``) until clicked; then ``label``, downloading
    what ``build`` made. ``version`` names what the bytes depend on (e.g. a model's sha256):
    a change drops them."""
    slot = PREFIX + key
    held = st.session_state.get(slot)
    if held is not None and held[0] != version:
        del st.session_state[slot]
        held = None
    if held is None:
        if container.button(prepare or f"Prepare {label}", key=f"{key}_prepare", icon=":material/build:",
                            help=(help or "") + " Built when you click; then download it."):
            with st.spinner(f"Building {label}…"):
                st.session_state[slot] = (version, build())
            st.rerun()
        return
    container.download_button(label, held[1], file_name, mime, key=key, icon=":material/download:",
                              on_click="ignore", help=help)
