"""The run store and its background worker, shared by all sessions of this server."""

from __future__ import annotations

import os
import re
import uuid

import streamlit as st

from tlcore.config import RunConfig
from tlcore.paths import data_dir
from tlcore.runs import Store, reused
from tlcore.workers import ensure_worker
from tlcore.workspaces import QueueFull


@st.cache_resource
def _open(root: str) -> Store:
    return Store(root)


def get_store() -> Store:
    """One handle per data dir (a path plus short-lived SQLite connections, thread-safe);
    keyed by the dir so tests that move ``TLAB_DATA_DIR`` get their own store."""
    return _open(str(data_dir()))


def busy(store: Store) -> bool:
    """Whether runs are queued or training now (background work then holds off). Takes
    the store: a background thread has no script run to find it through."""
    n = store.counts()
    return bool(n.get("queued", 0) + n.get("running", 0))


def prestart_worker() -> None:
    """Start a worker as a session opens, once per session (unless
    ``TLAB_PRESTART_WORKER=0``): importing torch and the models takes a new worker ~6 s on
    2 cores, which otherwise sits between a person's first click and their answer. An
    idle worker exits after 10 minutes; a second session finds it alive."""
    if st.session_state.get("tl_worker_prestarted") or os.environ.get("TLAB_PRESTART_WORKER", "1") == "0":
        return
    st.session_state["tl_worker_prestarted"] = True
    from tlcore.workers import ensure_workers

    ensure_workers(get_store().root, 0)


ME_COOKIE = "tlab_me"  # this browser's owner id (set by ui.workspace.remember)
ME_RE = re.compile(r"^[0-9a-f]{16}$")


def browser_cookie(name: str) -> str | None:
    """One of the browser's cookies (None where there is none, or no browser: AppTest)."""
    try:
        value = st.context.cookies.get(name)
    except (AttributeError, RuntimeError):
        return None
    return value if isinstance(value, str) else None


def owner() -> str:
    """This browser's name in the queue. The workers are shared fairly between browsers
    (``Store.claim_next``), not between workspaces: a class sharing one workspace still
    gets a turn each, and a classmate's 45-run sweep does not hold up a run. The id lives
    in a cookie, so a reload or a second tab is the same person: the same turn, the same
    queue cap, the same name in the class view. It is not a credential (a cookie can be
    copied): what one may stop or remove goes by workspace and admin key, never by it."""
    if "tl_owner" not in st.session_state:
        me = browser_cookie(ME_COOKIE)
        st.session_state["tl_owner"] = "browser-" + (me if me and ME_RE.match(me) else uuid.uuid4().hex[:16])
    return st.session_state["tl_owner"]


def queue_cap() -> int:
    """Runs one session may have waiting at once (``TLAB_QUEUE_CAP``, default 20)."""
    try:
        return max(1, int(os.environ.get("TLAB_QUEUE_CAP", "20")))
    except ValueError:
        return 20


def room() -> int:
    """How many more runs this session may queue now."""
    return queue_cap() - get_store().queued_by(owner())


def _new(store: Store, cfg: RunConfig, rerun: bool) -> bool:
    """Whether queueing ``cfg`` adds a waiting run (``Store.submit`` reuses the rest)."""
    rec = store.get(cfg.run_id(), history=False)
    return not reused(rec.status if rec else None, rerun)


def submit(configs: list[RunConfig], rerun: bool = False, stop_when_full: bool = True) -> list[str]:
    """Queue runs in this session's workspace (stored results are reused unless
    ``rerun``) and make sure a worker is executing them. Raises ``NotAllowed`` for a
    re-run of a result another workspace lists. More new runs than ``room()`` queue none:
    the page says why and stops there (``stop_when_full``; else ``QueueFull`` is raised,
    for callbacks); ``feed`` is the way for grids larger than the cap."""
    from ui.workspace import admin, current

    store = get_store()
    new = sum(_new(store, c, rerun) for c in configs)
    if new > (left := room()):
        full = QueueFull(f"This would queue {new} runs, and this session may have {queue_cap()} waiting at "
                         f"once ({queue_cap() - left} are waiting now). Wait for some to finish, stop some "
                         "(Train page), or queue fewer. The server's TLAB_QUEUE_CAP sets the limit.")
        if not stop_when_full:
            raise full
        st.error(str(full), icon=":material/hourglass_top:")
        st.stop()
    ws, who = current(), owner()
    ids = [store.submit(cfg, rerun=rerun, owner=who, ws=ws, admin=admin())[0] for cfg in configs]
    ensure_worker(store)
    return ids


def feed(configs: list[RunConfig], key: str) -> int:
    """Queue as many of ``configs`` as the cap allows now (stored results reused at once)
    and keep the rest in this session (``{key}_pending``) for the next call: how a grid of
    45 runs goes through a cap of 20 without holding more than 20 in the queue. Returns
    how many still wait."""
    store = get_store()
    left, rest, now = room(), [], []
    for cfg in configs:
        if _new(store, cfg, False):
            if left <= 0:
                rest.append(cfg)
                continue
            left -= 1
        now.append(cfg)
    if now:
        submit(now)
    st.session_state[f"{key}_pending"] = rest
    return len(rest)


def stored_ids(configs: list[RunConfig]) -> list[str]:
    """Ids of those ``configs`` the store already holds (in any state): what a page shows
    when a setting someone already ran is opened again."""
    store = get_store()
    return [c.run_id() for c in configs if store.get(c.run_id(), history=False)]
