"""The run store: SQLite for configs, status and per-epoch history; files for artifacts.

Every write is its own transaction in WAL mode, so a process killed mid-run loses at
most the epoch in flight and the database still opens. Runs are keyed by their config
hash: asking for a config that is already done returns its stored result at once.
Several processes (app sessions, the CLI, workers) share one store; SQLite's locking
plus ``busy_timeout`` serialises their writes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tlcore.config import RunConfig
from tlcore.paths import data_dir
from tlcore.run_listing import conditions, count_query, page_queries, scope_sql
from tlcore.workspaces import COMMON, NotAllowed

# stopped: ended early by a sweep's early-stopping rule (tlcore.sweep_stop), its curve so far kept
STATUSES = ("queued", "running", "done", "failed", "cancelled", "diverged", "interrupted", "stopped")
FINAL = ("done", "failed", "cancelled", "diverged", "interrupted", "stopped")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    metrics TEXT NOT NULL DEFAULT '{}',
    provenance TEXT NOT NULL DEFAULT '{}',
    seconds REAL,
    pid INTEGER,
    host TEXT,
    cancel INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT '',  -- who queued it: the queue is shared fairly between owners
    claimed REAL,  -- when a process last took it (the fair queue's "served last")
    ws TEXT NOT NULL DEFAULT ''  -- the workspace that queued it: the one that may cancel it
);
-- which workspaces list which runs (tlcore.workspaces): a run is trained once, listed by many
CREATE TABLE IF NOT EXISTS workspace_runs (
    ws TEXT NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    added REAL NOT NULL,
    PRIMARY KEY (ws, run_id)
);
CREATE INDEX IF NOT EXISTS workspace_runs_added ON workspace_runs(ws, added);
CREATE INDEX IF NOT EXISTS workspace_runs_run ON workspace_runs(run_id);
-- the names people gave themselves for the class view (tlcore.classview), by queue owner
CREATE TABLE IF NOT EXISTS people (
    owner TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status, created);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created);
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_trials (
    sweep_id TEXT NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    trial INTEGER NOT NULL,
    run_id TEXT NOT NULL,  -- not a reference: a trial is listed before its run is queued
    PRIMARY KEY (sweep_id, trial)
);
"""


def reused(status: str | None, rerun: bool = False) -> bool:
    """Whether ``Store.submit`` reuses a stored run in ``status`` (None: not stored) rather
    than queueing it: a queued or running one always, a done or diverged one unless
    ``rerun``. What a queue cap counts as new is what this says is not reused."""
    keep = ("queued", "running") if rerun else ("done", "queued", "running", "diverged")
    return status in keep


@dataclass
class RunRecord:
    id: str
    config: RunConfig
    status: str
    created: float
    updated: float
    progress: float
    message: str
    metrics: dict
    provenance: dict
    seconds: float | None
    pid: int | None
    history: list[dict] = field(default_factory=list)
    queued_by: str = ""  # the workspace that queued it (tlcore.workspaces), "" for none
    owner: str = ""  # who queued it: a browser session, a CLI process, a sweep (the fair queue's owner)

    def to_dict(self) -> dict:
        return {"run_id": self.id, "status": self.status, "config": self.config.to_dict(),
                "metrics": self.metrics, "seconds": self.seconds, "message": self.message,
                "progress": self.progress, "created": self.created, "history": self.history,
                "provenance": self.provenance}


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed child not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class StoreUnavailable(OSError):
    """The store's folder cannot be created or written; the message names it."""


class Store:
    """One store = one folder: ``runs.sqlite`` plus ``runs/<id>/`` artifact folders."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        """Open (creating if needed) the store in ``root``, by default the data dir.

        Raises ``StoreUnavailable`` naming the folder when it cannot be created or written
        (a read-only disk, a full one, a path under a file)."""
        try:
            self.root = Path(root) if root is not None else data_dir()
            self.root.mkdir(parents=True, exist_ok=True)
            self.db_path = self.root / "runs.sqlite"
            with self._conn() as c:
                c.executescript(SCHEMA)
                self._migrate(c)
            self.recover()
        except (OSError, sqlite3.OperationalError) as e:
            where = root if root is not None else os.environ.get("TLAB_DATA_DIR", "the data folder")
            raise StoreUnavailable(
                f"cannot use {where} as the run store ({e}). Make it writable, free some space, "
                "or point TLAB_DATA_DIR (or --store) at a writable folder") from e

    @staticmethod
    def _migrate(c: sqlite3.Connection) -> None:
        """Columns added since a store was made: added in place, old rows get the defaults.
        Runs from before workspaces become common ones (``ws`` empty): every workspace
        lists them, and the command line manages them as before."""
        have = {row[1] for row in c.execute("PRAGMA table_info(runs)")}
        for col, decl in (("owner", "TEXT NOT NULL DEFAULT ''"), ("claimed", "REAL"),
                          ("ws", "TEXT NOT NULL DEFAULT ''")):
            if col not in have:
                c.execute(f"ALTER TABLE runs ADD COLUMN {col} {decl}")
        c.execute("CREATE INDEX IF NOT EXISTS runs_owner ON runs(owner, claimed)")
        c.execute("DROP INDEX IF EXISTS runs_ws")  # (ws, status), briefly: (ws, created) serves the listing
        c.execute("CREATE INDEX IF NOT EXISTS runs_ws_created ON runs(ws, created)")

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        c = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        try:
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA foreign_keys=ON")
            c.execute("PRAGMA busy_timeout=30000")
            yield c
        finally:
            c.close()

    # -- writing -------------------------------------------------------------------
    def submit(self, cfg: RunConfig, rerun: bool = False, owner: str = "", ws: str = "",
               admin: bool = False) -> tuple[str, bool]:
        """Queue ``cfg``; returns (run id, queued?). A done, queued or running run with
        the same config is not queued again; a failed/cancelled/interrupted one is.
        ``rerun``: a finished (done or diverged) run is queued again too, its epochs and
        files replaced (a queued or running one is still left alone). ``owner``: who asks
        (a workspace, a sweep); ``claim_next`` shares the workers fairly between owners, so
        one owner's long queue does not hold up another's run. ``ws``: the workspace that
        asks lists the run, queued or reused; re-training a finished run that another
        workspace lists raises ``NotAllowed`` unless ``admin`` (their result would change
        under them). ``ws`` empty (``COMMON``): the run is common to every workspace."""
        rid = cfg.run_id()
        now = time.time()
        with self._conn() as c:
            c.execute("BEGIN IMMEDIATE")
            row = c.execute("SELECT status FROM runs WHERE id=?", (rid,)).fetchone()
            if row and reused(row[0], rerun):
                self._list_in(c, ws, rid, now)
                c.execute("COMMIT")
                return rid, False
            if row and rerun and not admin and row[0] in ("done", "diverged"):
                others = [w for (w,) in c.execute("SELECT ws FROM workspace_runs WHERE run_id=? AND ws!=?",
                                                  (rid, ws))]
                if others:
                    c.execute("ROLLBACK")
                    raise NotAllowed(f"run {rid} is listed in {len(others)} other workspace(s); training it "
                                     "again would change their result. Change a setting (a new seed) to get "
                                     "a run of your own, or ask the teacher (admin key) to re-run it")
            c.execute("DELETE FROM epochs WHERE run_id=?", (rid,))
            # old artifacts go while we hold the write lock: after COMMIT a worker could
            # already have claimed, run and saved the new ones
            shutil.rmtree(self.artifact_dir(rid), ignore_errors=True)
            # an upsert, not INSERT OR REPLACE: replacing would delete the row and cascade
            # away the workspaces that list it
            c.execute("INSERT INTO runs (id, config, status, created, updated, owner, ws) VALUES (?,?,?,?,?,?,?) "
                      "ON CONFLICT(id) DO UPDATE SET config=excluded.config, status='queued', "
                      "created=excluded.created, updated=excluded.updated, owner=excluded.owner, ws=excluded.ws, "
                      "progress=0, message='', metrics='{}', provenance='{}', seconds=NULL, pid=NULL, "
                      "host=NULL, cancel=0, claimed=NULL",
                      (rid, json.dumps(cfg.to_dict()), "queued", now, now, owner, ws))
            self._list_in(c, ws, rid, now)
            c.execute("COMMIT")
        return rid, True

    @staticmethod
    def _list_in(c: sqlite3.Connection, ws: str, rid: str, now: float) -> None:
        """``ws`` lists ``rid``, as its newest entry (asking again brings a run to the top)."""
        if ws:
            c.execute("INSERT INTO workspace_runs (ws, run_id, added) VALUES (?,?,?) "
                      "ON CONFLICT(ws, run_id) DO UPDATE SET added=excluded.added", (ws, rid, now))

    # The owner to serve next: fewest runs training now, then served longest ago (never
    # first), then the oldest waiting run. Round-robin between owners, FIFO within one.
    _NEXT_OWNER = """
        SELECT q.owner FROM (SELECT owner, MIN(created) AS first FROM runs WHERE status='queued'
                             GROUP BY owner) AS q
        ORDER BY (SELECT COUNT(*) FROM runs r WHERE r.owner=q.owner AND r.status='running'),
                 COALESCE((SELECT MAX(claimed) FROM runs r WHERE r.owner=q.owner), 0), q.first
        LIMIT 1"""

    def claim_next(self) -> str | None:
        """Atomically take the next queued run for this process: the oldest of the owner
        the fair queue serves next (``_NEXT_OWNER``)."""
        with self._conn() as c:
            c.execute("BEGIN IMMEDIATE")
            row = c.execute(f"SELECT id FROM runs WHERE status='queued' AND owner=({self._NEXT_OWNER}) "
                            "ORDER BY created LIMIT 1").fetchone()
            if row:
                self._start(c, row[0])
            c.execute("COMMIT")
        return row[0] if row else None

    def claim(self, rid: str) -> bool:
        """Take queued run ``rid`` for this process; False if another process (a worker,
        the CLI, a session) took it first. Use this, not ``start``, on a run that others
        can see: two executors of one run would interleave their epochs and results."""
        with self._conn() as c:
            c.execute("BEGIN IMMEDIATE")
            row = c.execute("SELECT status FROM runs WHERE id=?", (rid,)).fetchone()
            ok = bool(row and row[0] == "queued")
            if ok:
                self._start(c, rid)
            c.execute("COMMIT")
        return ok

    def start(self, rid: str) -> None:
        """Mark ``rid`` running unconditionally (tests, or a run no one else can see)."""
        with self._conn() as c:
            self._start(c, rid)

    def _start(self, c: sqlite3.Connection, rid: str) -> None:
        now = time.time()
        c.execute("UPDATE runs SET status='running', pid=?, host=?, updated=?, claimed=?, progress=0, cancel=0, "
                  "message='' WHERE id=?", (os.getpid(), socket.gethostname(), now, now, rid))

    def progress(self, rid: str, fraction: float, message: str = "") -> None:
        with self._conn() as c:
            c.execute("UPDATE runs SET progress=?, message=?, updated=? WHERE id=?",
                      (fraction, message, time.time(), rid))

    def add_epoch(self, rid: str, record: dict) -> None:
        with self._conn() as c:
            c.execute("INSERT OR REPLACE INTO epochs (run_id, epoch, record) VALUES (?,?,?)",
                      (rid, record["epoch"], json.dumps(record)))

    def finish(self, rid: str, status: str, *, metrics: dict | None = None, message: str = "",
               seconds: float | None = None, provenance: dict | None = None) -> None:
        assert status in FINAL, status
        with self._conn() as c:
            c.execute("UPDATE runs SET status=?, metrics=?, message=?, seconds=?, provenance=?, updated=?, "
                      "progress=CASE WHEN ?='done' THEN 1 ELSE progress END WHERE id=?",
                      (status, json.dumps(metrics or {}), message, seconds, json.dumps(provenance or {}),
                       time.time(), status, rid))

    def add_estimate(self, rid: str, estimate: dict) -> None:
        """Add a done run's time estimate (``tlcore.jobs.add_estimate``) to its row."""
        with self._conn() as c:
            c.execute("UPDATE runs SET metrics=json_set(metrics, '$.estimated_seconds', ?), "
                      "provenance=json_set(provenance, '$.estimate', json(?)) WHERE id=? AND status='done'",
                      (estimate["seconds"], json.dumps(estimate), rid))

    def request_cancel(self, rid: str) -> None:
        with self._conn() as c:
            c.execute("UPDATE runs SET cancel=1 WHERE id=? AND status='running'", (rid,))
            c.execute("UPDATE runs SET status='cancelled', message='cancelled before it started' "
                      "WHERE id=? AND status='queued'", (rid,))

    def request_stop(self, rid: str) -> None:
        """Ask running ``rid`` to end early (a sweep's early stopping): the trainer stops as
        for a cancel, and the run is stored ``stopped``, not ``cancelled``."""
        with self._conn() as c:
            c.execute("UPDATE runs SET cancel=2 WHERE id=? AND status='running'", (rid,))

    def stop_requested(self, rid: str) -> bool:
        with self._conn() as c:
            row = c.execute("SELECT cancel FROM runs WHERE id=?", (rid,)).fetchone()
        return bool(row and row[0] == 2)

    def cancel_requested(self, rid: str) -> bool:
        with self._conn() as c:
            row = c.execute("SELECT cancel FROM runs WHERE id=?", (rid,)).fetchone()
        return bool(row and row[0])

    def delete(self, rid: str) -> bool:
        """Delete ``rid`` everywhere, files included (engine use and the admin's remove)."""
        with self._conn() as c:
            n = c.execute("DELETE FROM runs WHERE id=?", (rid,)).rowcount
        shutil.rmtree(self.artifact_dir(rid), ignore_errors=True)
        return n > 0

    # -- what a workspace may do (tlcore.workspaces): the UI, links and the CLI go here ---
    def may_cancel(self, rec: RunRecord, ws: str, admin: bool = False) -> bool:
        return admin or rec.queued_by == ws

    def cancel_as(self, rid: str, ws: str, admin: bool = False) -> None:
        """Stop ``rid`` for workspace ``ws``: only the workspace that queued it (or the
        admin) may; anyone else gets ``NotAllowed`` saying so."""
        rec = self.get(rid, history=False)
        if rec is None:
            raise KeyError(f"no such run {rid}")
        if not self.may_cancel(rec, ws, admin):
            raise NotAllowed(f"run {rid} was queued by another workspace; only that workspace "
                             "(or the teacher, with the admin key) can stop it")
        self.request_cancel(rid)

    def remove(self, rid: str, ws: str, admin: bool = False) -> str:
        """Take ``rid`` off workspace ``ws``'s list: "removed" when other lists still hold
        it, "deleted" (files too; a queued or running run stopped) when none does. The
        admin deletes it from every list. A run ``ws`` does not list raises ``NotAllowed``;
        so does a common run that a workspace lists, or that a workspace asks to remove
        (only the common scope, the command line, or the admin deletes those)."""
        with self._conn() as c:
            c.execute("BEGIN IMMEDIATE")
            row = c.execute("SELECT status, ws FROM runs WHERE id=?", (rid,)).fetchone()
            if row is None:
                c.execute("ROLLBACK")
                raise KeyError(f"no such run {rid}")
            listed = [w for (w,) in c.execute("SELECT ws FROM workspace_runs WHERE run_id=?", (rid,))]
            why = None
            if admin:
                pass
            elif row[1] == COMMON and ws != COMMON:
                why = (f"run {rid} is common to every workspace (queued outside one); only the command line "
                       "or the teacher, with the admin key, can delete it")
            elif ws == COMMON and row[1] != COMMON:
                why = (f"run {rid} belongs to workspace(s) {', '.join(listed) or row[1]}; pass --workspace "
                       "CODE to act as one, or --admin-key")
            elif ws == COMMON and listed:
                why = f"run {rid} is also listed in {len(listed)} workspace(s); only --admin-key deletes it"
            elif ws != COMMON and ws not in listed:
                why = (f"run {rid} is not in workspace {ws}; a workspace removes only runs it lists "
                       "(the teacher, with the admin key, can delete any)")
            if why:
                c.execute("ROLLBACK")
                raise NotAllowed(why)
            if not admin and ws != COMMON:
                c.execute("DELETE FROM workspace_runs WHERE ws=? AND run_id=?", (ws, rid))
                if len(listed) > 1 or row[1] == COMMON:
                    c.execute("COMMIT")
                    return "removed"
            c.execute("COMMIT")
        if row[0] in ("queued", "running"):
            self.request_cancel(rid)
        self.delete(rid)
        return "deleted"

    def list_in(self, ws: str, ids: list[str]) -> None:
        """Workspace ``ws`` lists the stored runs ``ids`` (a sweep's reused trials)."""
        now = time.time()
        with self._conn() as c:
            for rid in ids:
                if c.execute("SELECT 1 FROM runs WHERE id=?", (rid,)).fetchone():
                    self._list_in(c, ws, rid, now)

    def workspaces_of(self, rid: str) -> list[str]:
        with self._conn() as c:
            return [w for (w,) in c.execute("SELECT ws FROM workspace_runs WHERE run_id=? ORDER BY ws", (rid,))]

    def recover(self) -> list[str]:
        """Mark runs whose process died (killed, crashed, machine slept and restarted)."""
        host = socket.gethostname()
        with self._conn() as c:
            rows = c.execute("SELECT id, pid, host FROM runs WHERE status='running'").fetchall()
            dead = [rid for rid, pid, h in rows if h == host and not _pid_alive(pid)]
            for rid in dead:
                c.execute("UPDATE runs SET status='interrupted', message='the process running it stopped "
                          "(killed or crashed); re-run it to try again', updated=? WHERE id=? AND status='running'",
                          (time.time(), rid))
        return dead

    # -- sweeps (tlcore.sweep): which runs one sweep asked for, in its order -------------
    def add_sweep(self, sid: str, spec: dict, run_ids: list[str]) -> None:
        """Record sweep ``sid`` and its trials' run ids (again: the same rows, kept)."""
        with self._conn() as c:
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT OR IGNORE INTO sweeps (id, spec, created) VALUES (?,?,?)",
                      (sid, json.dumps(spec), time.time()))
            c.executemany("INSERT OR REPLACE INTO sweep_trials (sweep_id, trial, run_id) VALUES (?,?,?)",
                          [(sid, i, rid) for i, rid in enumerate(run_ids)])
            c.execute("COMMIT")

    def sweep(self, sid: str) -> tuple[dict, list[str]] | None:
        """A sweep's spec and its trials' run ids, or None."""
        with self._conn() as c:
            row = c.execute("SELECT spec FROM sweeps WHERE id=?", (sid,)).fetchone()
            ids = [r[0] for r in c.execute("SELECT run_id FROM sweep_trials WHERE sweep_id=? ORDER BY trial",
                                           (sid,))]
        return (json.loads(row[0]), ids) if row else None

    def sweeps(self, ws: str | None = None, limit: int | None = None) -> list[tuple[str, dict, float, int]]:
        """Recorded sweeps (id, spec, created, trials), newest first. ``ws``: only those with a
        trial that workspace lists (or a common one), as its pages list runs."""
        sql = ("SELECT s.id, s.spec, s.created, (SELECT COUNT(*) FROM sweep_trials n WHERE "
               "n.sweep_id=s.id) FROM sweeps s")
        params: list = []
        if ws is not None:
            sql += (" WHERE EXISTS (SELECT 1 FROM sweep_trials t JOIN runs r ON r.id=t.run_id WHERE "
                    "t.sweep_id=s.id AND (r.ws='' OR EXISTS (SELECT 1 FROM workspace_runs w "
                    "WHERE w.run_id=r.id AND w.ws=?)))")
            params.append(ws)
        sql += " ORDER BY s.created DESC" + ("" if limit is None else f" LIMIT {int(limit)}")
        with self._conn() as c:
            rows = c.execute(sql, params).fetchall()
        return [(sid, json.loads(spec), created, n) for sid, spec, created, n in rows]

    # -- people ----------------------------------------------------------------------
    def set_name(self, owner: str, name: str | None) -> None:
        """The name ``owner`` (a browser) shows in the class view; None or "" forgets it.
        ``name`` must already be clean (``tlcore.workspaces.clean_name``)."""
        with self._conn() as c:
            if name:
                c.execute("INSERT INTO people(owner, name, updated) VALUES (?, ?, ?) ON CONFLICT(owner) "
                          "DO UPDATE SET name=excluded.name, updated=excluded.updated", (owner, name, time.time()))
            else:
                c.execute("DELETE FROM people WHERE owner=?", (owner,))

    def names(self, owners) -> dict[str, str]:
        """owner -> the name they gave, for those of ``owners`` who gave one."""
        owners = sorted(set(owners))
        out: dict[str, str] = {}
        with self._conn() as c:
            for i in range(0, len(owners), 500):  # SQLite caps a statement's parameters
                chunk = owners[i:i + 500]
                out.update(c.execute(f"SELECT owner, name FROM people WHERE owner IN ({','.join('?' * len(chunk))})",
                                     chunk).fetchall())
        return out

    # -- artifacts -----------------------------------------------------------------
    def artifact_dir(self, rid: str) -> Path:
        return self.root / "runs" / rid

    def save_artifacts(self, rid: str, artifacts: dict) -> None:
        folder = self.artifact_dir(rid)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"artifacts.pt.tmp{os.getpid()}"
        try:
            import torch  # here, not at the top: a page that lists runs imports no torch

            torch.save(artifacts, tmp)
            os.replace(tmp, folder / "artifacts.pt")
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk must not leave half a file behind
            raise

    def load_artifacts(self, rid: str) -> dict:
        path = self.artifact_dir(rid) / "artifacts.pt"
        import torch

        return torch.load(path, weights_only=True) if path.is_file() else {}

    def save_model(self, rid: str, payload: dict) -> dict:
        """Write a finished run's model (``tlcore.trained.model_payload``); returns its
        ``{file, sha256, bytes}``. ``tlcore.trained.load_trained`` rebuilds it."""
        from tlcore.trained import write_model

        return write_model(self.artifact_dir(rid), payload)

    def has_model(self, rid: str) -> bool:
        from tlcore.trained import MODEL_FILE

        return (self.artifact_dir(rid) / MODEL_FILE).is_file()

    def disk_bytes(self) -> int:
        """Bytes the store takes on disk: the database (with its WAL) and every run's files."""
        total = 0
        for path in [self.db_path, self.db_path.with_name("runs.sqlite-wal"), self.root / "runs"]:
            if path.is_file():
                total += path.stat().st_size
            elif path.is_dir():
                total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        return total

    # -- reading -------------------------------------------------------------------
    def _record(self, row: tuple, history: list[dict]) -> RunRecord:
        (rid, config, status, created, updated, progress, message, metrics, prov, seconds, pid, ws, owner) = row
        return RunRecord(rid, RunConfig.from_dict(json.loads(config)), status, created, updated, progress,
                         message, json.loads(metrics), json.loads(prov), seconds, pid, history, ws, owner)

    _COLS = "id, config, status, created, updated, progress, message, metrics, provenance, seconds, pid, ws, owner"

    def get(self, rid: str, history: bool = True) -> RunRecord | None:
        with self._conn() as c:
            row = c.execute(f"SELECT {self._COLS} FROM runs WHERE id=?", (rid,)).fetchone()
            if row is None:
                return None
            hist = [json.loads(r[0]) for r in c.execute(
                "SELECT record FROM epochs WHERE run_id=? ORDER BY epoch", (rid,))] if history else []
        return self._record(row, hist)

    def states(self, ids: Sequence[str]) -> dict[str, tuple]:
        """Each stored run's (status, updated, epochs stored): what changes whenever ``get``
        would answer differently, read for many runs in one query. A live view polls this
        and reads again only the runs whose state moved (``ui.runview.records``)."""
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._conn() as c:
            rows = c.execute(f"SELECT r.id, r.status, r.updated, (SELECT COUNT(*) FROM epochs e WHERE "
                             f"e.run_id = r.id) FROM runs r WHERE r.id IN ({marks})", ids).fetchall()
        return {rid: tuple(rest) for rid, *rest in rows}

    def list(self, status: str | tuple | None = None, *, ws: str | None = None, search: str | None = None,
             limit: int | None = None, offset: int = 0, newest: bool = False) -> list[RunRecord]:
        """Stored runs, without their epochs (``get`` loads those). ``ws``: only that
        workspace's (the runs it lists, by when it added them, and the common ones, by when
        they were queued); else all, by when they were queued. ``newest`` puts the latest
        first; ``limit``/``offset`` page through them (``tlcore.run_listing``)."""
        cols = ", ".join(f"r.{c.strip()}" for c in self._COLS.split(","))
        n = None if limit is None else int(offset) + int(limit)
        rows = []
        with self._conn() as c:
            for q, params in page_queries(cols, ws, conditions(status, search), n, newest):
                rows += c.execute(q, params).fetchall()
        rows.sort(key=lambda row: row[-1], reverse=newest)
        rows = rows[int(offset):n]
        return [self._record(r[:-1], []) for r in rows]

    def queued_by(self, owner: str) -> int:
        """Runs ``owner`` has waiting (not yet taken by a worker): what the queue cap counts."""
        with self._conn() as c:
            return c.execute("SELECT COUNT(*) FROM runs WHERE owner=? AND status='queued'", (owner,)).fetchone()[0]

    def count(self, status: str | tuple | None = None, *, ws: str | None = None, search: str | None = None) -> int:
        q, params = count_query(ws, conditions(status, search))
        with self._conn() as c:
            return c.execute(q, params).fetchone()[0]

    def model_bytes(self, ws: str | None = None) -> int:
        """Bytes of the stored models of the runs ``ws`` lists (all runs: None)."""
        where, params = scope_sql(ws)
        with self._conn() as c:
            return c.execute("SELECT COALESCE(SUM(json_extract(r.provenance, '$.model.bytes')), 0) "
                             f"FROM runs r WHERE {where}", params).fetchone()[0]

    def counts(self, ws: str | None = None) -> dict[str, int]:
        """Runs per status (those ``ws`` lists, or all): one indexed query, cheap to poll."""
        where, params = scope_sql(ws)
        with self._conn() as c:
            return dict(c.execute(f"SELECT r.status, COUNT(*) FROM runs r WHERE {where} GROUP BY r.status",
                                  params).fetchall())

    def integrity_ok(self) -> bool:
        with self._conn() as c:
            return c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # -- export --------------------------------------------------------------------
    def export_json(self, ids: list[str]) -> str:
        return json.dumps([self.get(i).to_dict() for i in ids if self.get(i, history=False)], indent=2)

    def export_csv(self, ids: list[str]) -> str:
        """One row per run and epoch: config columns, then the epoch's numbers."""
        buf = io.StringIO()
        rows = []
        for i in ids:
            rec = self.get(i)
            if rec is None:
                continue
            base = {"run_id": rec.id, "status": rec.status, **{f"cfg_{k}": v for k, v in rec.config.to_dict().items()},
                    "test_accuracy": rec.metrics.get("test_accuracy"),
                    "target_accuracy": rec.metrics.get("target_accuracy")}
            for h in rec.history or [{}]:
                rows.append({**base, **{k: v for k, v in h.items() if not isinstance(v, dict)}})
        fields: list[str] = []
        for r in rows:
            fields += [k for k in r if k not in fields]
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()
