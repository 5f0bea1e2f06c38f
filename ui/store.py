"""The run store and its background worker, shared by all sessions of this server."""

from __future__ import annotations

import uuid

import streamlit as st

from tlcore.config import RunConfig
from tlcore.jobs import ensure_worker
from tlcore.paths import data_dir
from tlcore.runs import Store


@st.cache_resource
def _open(root: str) -> Store:
    return Store(root)


def get_store() -> Store:
    """One handle per data dir (a path plus short-lived SQLite connections, thread-safe);
    keyed by the dir so tests that move ``TLAB_DATA_DIR`` get their own store."""
    return _open(str(data_dir()))


def owner() -> str:
    """This browser session's name in the queue: the workers are shared fairly between
    sessions (``Store.claim_next``), so a classmate's 45-run sweep does not hold up a run."""
    if "tl_owner" not in st.session_state:
        st.session_state["tl_owner"] = "session-" + uuid.uuid4().hex[:12]
    return st.session_state["tl_owner"]


def submit(configs: list[RunConfig], rerun: bool = False) -> list[str]:
    """Queue runs (stored results are reused unless ``rerun``) and make sure a worker is
    executing them."""
    store = get_store()
    who = owner()
    ids = [store.submit(cfg, rerun=rerun, owner=who)[0] for cfg in configs]
    ensure_worker(store)
    return ids


def stored_ids(configs: list[RunConfig]) -> list[str]:
    """Ids of those ``configs`` the store already holds (in any state): what a page shows
    when a setting someone already ran is opened again."""
    store = get_store()
    return [c.run_id() for c in configs if store.get(c.run_id(), history=False)]
