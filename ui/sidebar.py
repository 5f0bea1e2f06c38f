"""The sidebar every page shares: the current setup at a glance and the run queue."""

from __future__ import annotations

import streamlit as st

from tlcore.names import domain_label
from tlcore.workspaces import NAME_MAX, clean_name, is_admin, new_code, normalise
from ui import rerun_log, workspace
from ui.state import get_setup, page_link
from ui.store import get_store, owner


def sidebar():
    """The setup at a glance; returns the slot ``queue_counts`` fills after the page."""
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
        workspace_box()
        return st.empty()  # the run counts, drawn after the page by queue_counts


def workspace_box() -> None:
    """The session's workspace: its code, joining another, the "all runs" switch and the
    teacher's admin key."""
    code, admin = workspace.current(), workspace.admin()
    title = f"Workspace `{code}`" + (" · teacher" if admin else "")
    with st.expander(title, icon=":material/group_work:"):
        st.caption("Pages list this workspace's runs; only it can stop the runs it queued. Give the "
                   "code (or the link below) to classmates to work together. A code is not a password.")
        st.code(f"{page_link().split('?')[0]}?{workspace.PARAM}={code}", language=None,
                wrap_lines=True)
        st.toggle("Show all runs on this server", key=workspace.ALL,
                  help="Every page then lists every run stored here, from every workspace.")
        your_name()
        with st.form("ws_join", border=False, enter_to_submit=True):
            text = st.text_input("Join a workspace", placeholder="code from your teacher", key="ws_join_code")
            c1, c2 = st.columns(2)
            go = c1.form_submit_button("Join", icon=":material/login:")
            fresh = c2.form_submit_button("New", icon=":material/add:", help="A new personal workspace")
        if go:
            joined = normalise(text)
            if joined is None:
                st.error("A workspace code is 3 to 32 letters, digits or dashes.")
            else:
                workspace.join(joined)
                st.rerun()
        if fresh:
            workspace.join(new_code())
            st.rerun()
        if not admin:
            key = st.text_input("Teacher key", type="password", key="ws_admin_try",
                                help="Unlocks stopping and deleting any run on this server "
                                "(`tlcore admin-key` prints it on the server).")
            if key:
                if is_admin(get_store().root, key):
                    st.session_state[workspace.ADMIN] = key
                    st.rerun()
                st.error("That is not this server's admin key.")
        elif st.button("Lock teacher rights", key="ws_admin_lock", icon=":material/lock:"):
            st.session_state.pop(workspace.ADMIN, None)
            st.rerun()


def your_name() -> None:
    """The name this browser shows in the class view (Lessons), kept in the store by
    owner; without one the view numbers people ("student 3")."""
    store, me = get_store(), owner()
    if "ws_name" not in st.session_state:  # a reload finds the name this browser gave
        st.session_state["ws_name"] = store.names([me]).get(me, "")

    def save() -> None:
        name = clean_name(st.session_state["ws_name"])
        store.set_name(me, name)
        st.session_state["ws_name"] = name or ""

    st.text_input("Your name in the class view", key="ws_name", max_chars=NAME_MAX, on_change=save,
                  placeholder="optional", help="Shown beside your runs in the teacher's view of a "
                  "shared workspace. Anyone in the workspace sees it.")


POLL_S = 2.0
# While the page shows a polling live view (ui.runview, ui.grid_view), that view already
# shows the runs' progress: the counts then poll this rarely, so a watching session costs
# one timer rerun every LIVE_POLL_S, not two (bench/bench_load.py's polling target).
POLL_BESIDE_LIVE_S = 10.0
LIVE_FLAG = "tl_live_polling"  # set by a full run that draws a polling live view


def poll_every(counts: dict[str, int], beside_live: bool = False) -> float | None:
    """How often the counts poll: every ``POLL_S`` while runs are queued or running (every
    ``POLL_BESIDE_LIVE_S`` beside a live view), never when none are (an idle session then
    costs the server nothing between its own reruns; twelve idle students used to cost six
    fragment reruns a second)."""
    if not counts.get("queued", 0) + counts.get("running", 0):
        return None
    return POLL_BESIDE_LIVE_S if beside_live else POLL_S


def queue_counts(slot) -> None:
    """Live counts in ``slot``, drawn after the page so the runs it just queued are counted
    and polled. When they finish, one full rerun redraws the counts without a timer. Runs
    queued by another session show at this session's next rerun."""
    polling = poll_every(get_store().counts(), beside_live=st.session_state.pop(LIVE_FLAG, False))

    @st.fragment(run_every=polling)
    def counts() -> None:
        with rerun_log.timed("counts"):
            _counts()

    def _counts() -> None:
        n = get_store().counts()
        active = n.get("queued", 0) + n.get("running", 0)
        st.caption(f"{sum(n.values())} runs stored · {n.get('running', 0)} running · "
                   f"{n.get('queued', 0)} queued" if active else f"{sum(n.values())} runs stored · none running")
        if polling and not active:
            st.rerun()  # the timer stops with a full rerun

    with slot.container():
        counts()


def copy_link() -> None:
    """The link that reopens this page as it is now (setup and the page's choices), with a
    copy button: what a teacher pastes into the class chat."""
    with st.sidebar:
        st.markdown("**Copy link**", help="Opens this page with the same setup and choices, "
                    "in another tab or on another machine reaching this server.")
        st.code(page_link(), language=None, wrap_lines=False)
        st.caption("Without your workspace code: whoever opens it works in their own.")
