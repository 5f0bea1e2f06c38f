"""The queue is shared fairly between owners (browser sessions, sweeps): round-robin
between them, first come first served within one, so no one waits behind another's whole
queue; and stores made before owners existed open and keep working."""

from __future__ import annotations

import sqlite3

from tests.engine_helpers import TINY
from tlcore.runs import Store


def _drain(store: Store) -> list[str]:
    """Owners in the order one worker serves them (claim, finish, next)."""
    order = []
    while (rid := store.claim_next()) is not None:
        with store._conn() as c:
            order.append(c.execute("SELECT owner FROM runs WHERE id=?", (rid,)).fetchone()[0])
        store.finish(rid, "done")
    return order


def test_three_owners_take_turns_and_none_waits_behind_a_whole_queue(tmp_path):
    store = Store(tmp_path)
    for s in range(6):
        store.submit(TINY.replace(seed=s), owner="A")  # a long sweep, queued first
    for s in range(2):
        store.submit(TINY.replace(seed=10 + s), owner="B")
    store.submit(TINY.replace(seed=20), owner="C")
    assert _drain(store) == ["A", "B", "C", "A", "B", "A", "A", "A", "A"]


def test_within_one_owner_the_oldest_goes_first(tmp_path):
    store = Store(tmp_path)
    ids = [store.submit(TINY.replace(seed=s), owner="A")[0] for s in range(3)]
    got = []
    while (rid := store.claim_next()) is not None:
        got.append(rid)
        store.finish(rid, "done")
    assert got == ids


def test_an_owner_training_now_waits_for_one_that_is_not(tmp_path):
    """Two workers: A's first run is training; the next free worker serves B, not A's next."""
    store = Store(tmp_path)
    for s in range(3):
        store.submit(TINY.replace(seed=s), owner="A")
    first = store.claim_next()
    store.submit(TINY.replace(seed=9), owner="B")
    second = store.claim_next()
    assert store.get(first).config.seed == 0 and store.get(second).config.seed == 9


def test_a_store_from_before_owners_opens_and_its_queue_still_runs(tmp_path):
    db = tmp_path / "runs.sqlite"
    with sqlite3.connect(db) as c:  # the runs table as it was, one run queued
        c.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, config TEXT NOT NULL, status TEXT NOT NULL, "
                  "created REAL NOT NULL, updated REAL NOT NULL, progress REAL NOT NULL DEFAULT 0, "
                  "message TEXT NOT NULL DEFAULT '', metrics TEXT NOT NULL DEFAULT '{}', "
                  "provenance TEXT NOT NULL DEFAULT '{}', seconds REAL, pid INTEGER, host TEXT, "
                  "cancel INTEGER NOT NULL DEFAULT 0)")
        import json
        c.execute("INSERT INTO runs (id, config, status, created, updated) VALUES (?,?,?,?,?)",
                  (TINY.run_id(), json.dumps(TINY.to_dict()), "queued", 1.0, 1.0))
    store = Store(tmp_path)
    assert store.claim_next() == TINY.run_id()
    new = store.submit(TINY.replace(seed=5), owner="B")[0]
    assert store.claim_next() == new
