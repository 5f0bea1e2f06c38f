"""This browser session's workspace (``tlcore.workspaces``): which runs its pages list,
and what it may stop or remove.

The code lives in the URL (``?ws=``) as well as the session, so a reload, a bookmark or a
link a teacher hands out brings the same workspace back. A session opened from a bare
address (``make app`` opens one) takes the workspace this browser used last, from a
cookie; a browser with none gets a fresh personal code. The admin key, typed into the sidebar, lives only in the
session: it is never put in a URL, where it would end up in a browser's history.
"""

from __future__ import annotations

import streamlit as st

from tlcore.workspaces import is_admin, new_code, normalise
from ui.store import ME_COOKIE, browser_cookie, get_store, owner

WS = "tl_ws"
ADMIN = "tl_admin"
ALL = "tl_all_runs"  # the "all runs on this server" switch, shared by every page
PARAM = "ws"
COOKIE = "tlab_ws"


def current() -> str:
    """The session's workspace code: the link's ``?ws=`` the first time (when valid),
    else a new personal one."""
    if WS not in st.session_state:
        code = normalise(st.query_params.get(PARAM))
        if code is None and not st.query_params.get(PARAM):
            code = normalise(_cookie())
        st.session_state[WS] = code or new_code()
        if st.query_params.get(PARAM) and code is None:
            st.session_state.setdefault("tl_notices", []).append(
                f"`ws` is not a workspace code (3 to 32 letters, digits or dashes); "
                f"you are in a new personal workspace, `{st.session_state[WS]}`")
    return st.session_state[WS]


def _cookie() -> str | None:
    """The browser's workspace cookie (None where there is none, or no browser: AppTest)."""
    return browser_cookie(COOKIE)


def sync_url() -> None:
    """Keep ``?ws=`` in the address bar on every script run (sidebar navigation drops
    the query string), so a bookmark or a reload keeps the workspace."""
    code = current()
    if st.query_params.get(PARAM) != code:
        st.query_params[PARAM] = code


def remember() -> None:
    """Set this browser's cookies to the workspace and to its owner id (``ui.store.owner``),
    once per change: a short script in a 1-pixel same-origin frame, which writes the app's
    own cookies."""
    want = {COOKIE: current(), ME_COOKIE: owner().removeprefix("browser-")}
    todo = {k: v for k, v in want.items()
            if browser_cookie(k) != v and st.session_state.get(f"tl_cookie_{k}") != v}
    if not todo:
        return
    for k, v in todo.items():
        st.session_state[f"tl_cookie_{k}"] = v
    # a code is [a-z0-9-] only (normalise), an owner id hex: both safe inside a script
    script = "<script>" + "".join(f"document.cookie = '{k}={v}; path=/; max-age=31536000; SameSite=Lax';"
                                  for k, v in todo.items()) + "</script>"
    if hasattr(st, "iframe"):
        st.iframe(script, height=1)
    else:  # Streamlit before st.iframe: the same same-origin frame, by its older name
        import streamlit.components.v1 as components

        components.html(script, height=0)


def join(code: str) -> None:
    st.session_state[WS] = code
    st.query_params[PARAM] = code
    st.session_state.pop(ALL, None)


def admin() -> bool:
    """Whether this session unlocked server-wide actions with the admin key (checked
    again on every call: a key changed on the server locks old sessions out)."""
    key = st.session_state.get(ADMIN)
    return bool(key) and is_admin(get_store().root, key)


def scope() -> str | None:
    """The workspace a page's run lists show: this session's, or None for all runs on the
    server when the sidebar switch says so."""
    return None if st.session_state.get(ALL) else current()


def scope_words() -> str:
    return "on this server" if scope() is None else f"in workspace `{current()}`"


def canceller():
    """``may(rec)``: whether this session may stop ``rec``; the admin key is checked once,
    not once per run a live view lists at every poll."""
    store, ws, adm = get_store(), current(), admin()
    return lambda rec: store.may_cancel(rec, ws, adm)


PICK_LIMIT = 300  # a picker lists at most this many runs; a search finds older ones


def picker_runs(key: str, status: str | tuple | None = None, keep=()) -> list:
    """The runs a page's picker offers, newest first: the scope's newest ``PICK_LIMIT``
    (of ``status``), found by a search box when there are more, plus the runs ``keep``
    names (a link's or a selection's) wherever they are listed. Viewing is open to all:
    a link to another workspace's run shows it."""
    store, ws = get_store(), scope()
    recs = store.list(status, ws=ws, limit=PICK_LIMIT + 1, newest=True)  # one more: are there more?
    if len(recs) > PICK_LIMIT:
        search = st.text_input("Find runs", key=f"{key}_find", placeholder="backbone, dataset, strategy, run id…",
                               help=f"The list holds the newest {PICK_LIMIT} runs {scope_words()}; "
                               "every word typed here must appear in a run's id or settings.")
        recs = store.list(status, ws=ws, search=search or None, limit=PICK_LIMIT, newest=True)
    have = {r.id for r in recs}
    wanted = (status,) if isinstance(status, str) else status
    extra = [r for r in (store.get(i, history=False) for i in dict.fromkeys(keep) if i and i not in have)
             if r is not None and (wanted is None or r.status in wanted)]
    return extra + recs


def link_ids(param: str) -> list[str]:
    """The run ids a link's ``param`` names (as typed; the page checks them)."""
    return [p.strip().lower() for p in (st.query_params.get(param) or "").split(",")[:50] if p.strip()]


def empty_scope_hint() -> None:
    """Say where the runs are when this workspace has none but the server does."""
    n = get_store().count()
    if scope() is not None and n:
        st.caption(f"This workspace (`{current()}`) has no runs yet; {n} runs on this server "
                   "belong to other workspaces. Switch on *Show all runs on this server* in the sidebar's "
                   "workspace box to use them.")
