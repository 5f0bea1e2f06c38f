"""The run history: a page of the workspace's runs at a time, searched and filtered in SQL,
with what a person does with old runs (compare them, re-run the broken ones, remove them).

It costs what it shows, not what is stored: a store of 100,000 runs is counted and paged
by indexed queries, and only the 50 rows on screen are decoded
(``bench/bench_history.py``).
"""

from __future__ import annotations

import math

import streamlit as st

from tlcore.errors import human_bytes, model_size
from tlcore.names import pair_label
from tlcore.runs import STATUSES
from tlcore.workspaces import NotAllowed
from ui import workspace
from ui.store import get_store, submit

PAGE = 50
BROKEN = ("interrupted", "failed", "cancelled")


@st.cache_data(ttl=60, show_spinner=False)
def _disk(root: str) -> int:
    """The store's size on disk: a walk over every run's folder, so kept for a minute."""
    from tlcore.runs import Store

    return Store(root).disk_bytes()


@st.cache_data(ttl=60, show_spinner=False)
def _models(root: str, ws: str | None, total: int) -> int:
    """The listed runs' model bytes: a sum over every run's provenance, so kept for a
    minute (or until the count changes)."""
    from tlcore.runs import Store

    return Store(root).model_bytes(ws)


def _n(count: int) -> str:
    return f"{count:,} run" + ("" if count == 1 else "s")


def _row(r) -> dict:
    c = r.config
    return {"status": r.status, "strategy": c.strategy, "backbone": c.backbone,
            "data": pair_label(c.dataset, c.target), "labels/class": c.labels_per_class, "seed": c.seed,
            "test acc": r.metrics.get("test_accuracy"), "target acc": r.metrics.get("target_accuracy"),
            "seconds": r.seconds, "model": model_size(r), "id": r.id}


def history(key: str = "hist") -> None:
    """The history table of this session's scope (its workspace, or the whole server)."""
    store, ws = get_store(), workspace.scope()
    c1, c2 = st.columns([3, 1])
    search = c1.text_input("Search", key=f"{key}_q", placeholder="backbone, dataset, strategy, run id…",
                           help="Every word must appear in the run's id or its settings.")
    status = c2.selectbox("Status", ["any", *STATUSES], key=f"{key}_status")
    which = None if status == "any" else status
    total = store.count(which, ws=ws, search=search)
    if not total:
        st.caption("No runs match." if search or which else f"No runs yet {workspace.scope_words()}.")
        _elsewhere(store, ws)
        return
    pages = math.ceil(total / PAGE)
    page = 1
    if pages > 1:
        page = int(st.number_input(f"Page (of {pages}, {PAGE} runs each)", 1, pages, 1, key=f"{key}_page"))
    recs = store.list(which, ws=ws, search=search, limit=PAGE, offset=(page - 1) * PAGE, newest=True)
    event = st.dataframe([_row(r) for r in recs], hide_index=True, key=f"{key}_table",
                         on_select="rerun", selection_mode="multi-row", column_config={
        "test acc": st.column_config.NumberColumn(format="percent"),
        "target acc": st.column_config.NumberColumn(format="percent"),
        "seconds": st.column_config.NumberColumn(format="%.1f"),
        "model": st.column_config.TextColumn(help="Size of the stored model file: only the tensors "
                                             "training changed, so a frozen backbone adds only a head")})
    st.caption(f"{_n(total)} {workspace.scope_words()}"
               + (f", newest first; page {page} of {pages}" if pages > 1 else "")
               + f". Their models take {human_bytes(_models(str(store.root), ws, total))}; the whole store "
               f"{human_bytes(_disk(str(store.root)))} on disk. Tick rows to compare or remove them.")
    rows = getattr(getattr(event, "selection", None), "rows", []) or []
    picked = [recs[i] for i in rows if i < len(recs)]
    if picked:
        _selected(store, picked, key)
    _elsewhere(store, ws)
    broken = store.count(BROKEN, ws=ws)
    if broken and st.button(f"Re-run {broken} interrupted, failed or cancelled runs", key=f"{key}_rerun"):
        again = store.list(BROKEN, ws=ws, limit=200, newest=True)
        st.session_state["train_ids"] = submit([r.config for r in again])
        st.rerun()


def _selected(store, picked: list, key: str) -> None:
    admin = workspace.admin()
    c1, c2 = st.columns(2)
    if c1.button(f"Compare these {len(picked)}", key=f"{key}_compare", icon=":material/compare_arrows:"):
        ids = [r.id for r in picked]
        st.session_state["compare_selected"] = ids
        st.switch_page("app_pages/compare.py", query_params={"runs": ",".join(ids)})
    verb = "Delete from the server" if admin else "Remove from this workspace"
    if c2.button(f"{verb} ({len(picked)})", key=f"{key}_remove", icon=":material/delete:",
                 help="Removing takes a run off this workspace's list; its files go when no workspace "
                 "lists it. A queued or running run that no one else lists is stopped."):
        said, refused = {"removed": 0, "deleted": 0}, []
        for r in picked:
            try:
                said[store.remove(r.id, workspace.current(), admin=admin)] += 1
            except (NotAllowed, KeyError) as e:
                refused.append(str(e.args[0] if e.args else e))
        st.session_state[f"{key}_said"] = (said, refused)
        st.rerun()
    said, refused = st.session_state.pop(f"{key}_said", (None, []))
    if said:
        st.toast(f"{said['deleted']} deleted, {said['removed']} removed from this workspace "
                 "(other workspaces still list them).", icon=":material/delete:")
    for text in refused[:3]:
        st.warning(text, icon=":material/block:")


def _elsewhere(store, ws: str | None) -> None:
    """Where the other runs are, when this workspace shows only its own."""
    if ws is None:
        return
    others = store.count() - store.count(ws=ws)
    if others > 0:
        st.caption(f"{others:,} more {'run belongs' if others == 1 else 'runs belong'} to other "
                   "workspaces: switch on *Show all runs on this server* in the sidebar's workspace box "
                   "to list them.")
