"""The current setup (a ``RunConfig``) shared by every page and mirrored in the URL.

Pages read it with ``get_setup()`` and change it with ``update_setup(...)``; the URL's
query parameters always hold the non-default fields, so a copied link restores the same
setup in a new tab. Invalid URL values fall back to defaults with a notice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from tlcore.config import RunConfig
from tlcore.urlstate import config_from_params, config_to_params

KEY = "tl_setup"


def widget_callback(fn: Callable[..., None]) -> Callable[..., None]:
    """Wrap the ``on_change`` callback of a widget drawn outside any fragment, whose value
    ``ui.pickers.bind`` sets from the setup: it does nothing when a fragment's rerun calls it.

    Why: Streamlit calls the callback of every widget whose reported value differs from the
    last run's, in fragment reruns too, and a fragment's timer (the sidebar counts, the
    warm-up, a live view) sends the browser's widget values as they were when it fired. A
    tick that left while a full run was setting a widget from the setup (an upload making
    the uploaded dataset the source) reached the server after that run, still holding the
    old value, and its callback wrote the old dataset back over the upload: the link lost
    the upload (test_page_presets on a cold server, in CI and once here). A person changes
    such a widget only through a full rerun, so a fragment rerun's call is always stale;
    the next full run sets the widget from the setup again (``bind``)."""

    @functools.wraps(fn)
    def call(*args, **kwargs) -> None:
        ctx = get_script_run_ctx()
        if ctx is not None and ctx.fragment_ids_this_run:
            return
        fn(*args, **kwargs)

    return call


def get_setup() -> RunConfig:
    if KEY not in st.session_state:
        cfg, notices = config_from_params(st.query_params.to_dict())
        st.session_state[KEY] = cfg
        st.session_state["tl_notices"] = notices
    return st.session_state[KEY]


def update_setup(**changes) -> RunConfig:
    """Replace fields of the setup; invalid combinations raise ValueError for the page to show."""
    cfg = get_setup().replace(**changes)
    set_setup(cfg)
    return cfg


def set_setup(cfg: RunConfig) -> None:
    st.session_state[KEY] = cfg
    params = config_to_params(cfg)
    current = st.query_params.to_dict()
    if {k: v for k, v in current.items() if k in RunConfig.__dataclass_fields__} != params:
        for k in list(current):
            if k in RunConfig.__dataclass_fields__ and k not in params:
                del st.query_params[k]
        st.query_params.update(params)


def sync_url() -> None:
    """Put the setup back into the URL on every script run. Streamlit's navigation drops the
    query string when a sidebar link is followed, so without this a page reached through the
    sidebar had a bare URL, and a reload or a shared link silently brought back the defaults."""
    set_setup(get_setup())


def url_choice(param: str, options: list, default: int = 0) -> int:
    """Index into ``options`` of the link's ``param`` (unknown or absent: ``default``), for a
    widget's ``index=``; pair it with ``keep_in_url`` so the page's own choice is linked."""
    raw = st.query_params.get(param)
    names = [str(o) for o in options]
    return names.index(raw) if raw in names else default


def url_list(param: str, options: list, default: list) -> list:
    """The link's comma-separated ``param`` as those of ``options`` it names (in the link's
    order); ``default`` when absent or when it names none of them."""
    raw = st.query_params.get(param)
    if raw is None:
        return default
    by_name = {str(o): o for o in options}
    picked = [by_name[p] for p in raw.split(",") if p in by_name]
    return list(dict.fromkeys(picked)) or default


def keep_list_in_url(param: str, values: list) -> None:
    keep_in_url(param, ",".join(str(v) for v in values))


def keep_in_url(param: str, value) -> None:
    """Write a page's own choice into the URL (removed when None)."""
    if value is None:
        if param in st.query_params:
            del st.query_params[param]
    elif st.query_params.get(param) != str(value):
        st.query_params[param] = str(value)


def page_link(with_workspace: bool = False) -> str:
    """The address that restores what this page shows now: this page's path plus every
    query parameter (the setup and the page's own choices), on the host the browser used.
    Without the workspace code unless asked: a shared setup link must not hand a
    classmate one's personal workspace (and with it, one's runs to stop)."""
    from urllib.parse import urlencode, urlsplit

    base = urlsplit(st.context.url or "")
    params = st.query_params.to_dict()
    if not with_workspace:
        params.pop("ws", None)
    query = urlencode(params)
    return f"{base.scheme}://{base.netloc}{base.path}" + (f"?{query}" if query else "")


def show_notices() -> None:
    for n in st.session_state.pop("tl_notices", []):
        st.warning(f"Link parameter {n}", icon=":material/link_off:")


def md_escape(text: str) -> str:
    """Escape Markdown so user-supplied names (class folders, file names) show as text."""
    return "".join("\\" + c if c in "\\`*_{}[]()#+-.!<>|~$:" else c for c in text)
