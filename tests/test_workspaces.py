"""Workspaces (tlcore.workspaces): one store, many classmates. A run is trained once and
listed by every workspace that asked for it; only the workspace that queued a run stops
it, removing takes it off one list, and the admin key unlocks the rest. Checked through
the store, the command line and the app (pages, links, the sidebar)."""

from __future__ import annotations

import sqlite3

import pytest

from tests.engine_helpers import TINY
from tests.page_helpers import app_for
from tlcore.cli import main
from tlcore.runs import Store
from tlcore.workspaces import (
    COMMON,
    NotAllowed,
    admin_key,
    is_admin,
    make_admin_key,
    new_code,
    normalise,
)


def _done(store: Store, rid: str) -> None:
    store.claim(rid)
    store.finish(rid, "done", metrics={"test_accuracy": 0.5}, seconds=1.0)


def test_codes_are_fresh_and_only_plain_ones_are_accepted():
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200 and all(normalise(c) == c for c in codes)
    assert normalise("  Class-7B ") == "class-7b"
    for bad in ("", "ab", "-abc", "a b c", "x" * 33, "abc/../", "é123", None):
        assert normalise(bad) is None, bad


def test_one_setup_in_two_workspaces_is_trained_once_and_listed_in_both(tmp_path):
    store = Store(tmp_path)
    rid, queued = store.submit(TINY, owner="a", ws="a")
    assert queued
    assert store.submit(TINY, owner="b", ws="b") == (rid, False)  # not queued twice
    assert store.claim_next() == rid and store.claim_next() is None
    _done(store, rid)
    assert store.submit(TINY, ws="c") == (rid, False)  # a done run is reused, and listed
    assert store.workspaces_of(rid) == ["a", "b", "c"]
    for ws in "abc":
        assert [r.id for r in store.list(ws=ws)] == [rid]
    assert store.count(ws="d") == 0 and store.count() == 1


def test_only_the_queuing_workspace_or_the_admin_stops_a_run(tmp_path):
    store = Store(tmp_path)
    rid, _ = store.submit(TINY, ws="a")
    store.submit(TINY, ws="b")  # b lists it too, but did not queue it
    rec = store.get(rid)
    assert rec.queued_by == "a" and store.may_cancel(rec, "a") and not store.may_cancel(rec, "b")
    with pytest.raises(NotAllowed, match="another workspace"):
        store.cancel_as(rid, "b")
    assert store.get(rid).status == "queued"
    store.cancel_as(rid, "b", admin=True)
    assert store.get(rid).status == "cancelled"


def test_removing_takes_a_run_off_one_list_and_its_files_go_with_the_last(tmp_path):
    store = Store(tmp_path)
    rid, _ = store.submit(TINY, ws="a")
    _done(store, rid)
    store.save_artifacts(rid, {"x": 1})
    store.submit(TINY, ws="b")
    with pytest.raises(NotAllowed, match="not in workspace c"):
        store.remove(rid, "c")
    assert store.remove(rid, "a") == "removed"
    assert store.count(ws="a") == 0 and store.count(ws="b") == 1 and store.load_artifacts(rid) == {"x": 1}
    assert store.remove(rid, "b") == "deleted"
    assert store.get(rid) is None and not store.artifact_dir(rid).exists()


def test_the_admin_deletes_from_every_list(tmp_path):
    store = Store(tmp_path)
    rid, _ = store.submit(TINY, ws="a")
    store.submit(TINY, ws="b")
    assert store.remove(rid, "c", admin=True) == "deleted"
    assert store.get(rid) is None and store.count(ws="a") == store.count(ws="b") == 0


def test_retraining_a_result_another_workspace_lists_is_refused(tmp_path):
    store = Store(tmp_path)
    rid, _ = store.submit(TINY, ws="a")
    _done(store, rid)
    assert store.submit(TINY, rerun=True, ws="a") == (rid, True)  # only a lists it: fine
    _done(store, rid)
    store.submit(TINY, ws="b")
    with pytest.raises(NotAllowed, match="1 other workspace"):
        store.submit(TINY, rerun=True, ws="a")
    assert store.get(rid).status == "done" and store.workspaces_of(rid) == ["a", "b"]
    assert store.submit(TINY, rerun=True, ws="a", admin=True) == (rid, True)
    assert store.workspaces_of(rid) == ["a", "b"]  # re-queued in place: the lists survive


def test_runs_queued_outside_any_workspace_are_common_to_all_and_only_the_cli_or_admin_removes_them(tmp_path):
    store = Store(tmp_path)
    common, _ = store.submit(TINY)  # the command line, a script, a store from before workspaces
    mine, _ = store.submit(TINY.replace(seed=1), ws="a")
    assert [r.id for r in store.list(ws="a", newest=True)] == [mine, common]
    assert [r.id for r in store.list(ws="b")] == [common]
    assert [r.id for r in store.list(ws=COMMON)] == [common]
    with pytest.raises(NotAllowed, match="belongs to workspace"):
        store.remove(mine, COMMON)
    store.submit(TINY, ws="b")  # asking for it lists it, once
    assert store.count(ws="b") == 1
    with pytest.raises(NotAllowed, match="common to every workspace"):
        store.remove(common, "b")
    with pytest.raises(NotAllowed, match="also listed in 1 workspace"):
        store.remove(common, COMMON)
    assert not store.may_cancel(store.get(common), "a") and store.may_cancel(store.get(common), COMMON)
    assert store.remove(common, "a", admin=True) == "deleted"
    alone, _ = store.submit(TINY.replace(seed=2))
    assert store.remove(alone, COMMON) == "deleted"


def test_listing_is_paged_searched_and_filtered_in_sql(tmp_path):
    store = Store(tmp_path)
    ids = [store.submit(TINY.replace(seed=s), ws="a")[0] for s in range(120)]
    store.submit(TINY.replace(seed=500, strategy="finetune_all"), ws="b")
    page3 = store.list(ws="a", limit=50, offset=100, newest=True)
    assert [r.id for r in page3] == ids[19::-1]
    assert store.count(ws="a", search="finetune_all") == 0 and store.count(search="finetune_all") == 1
    assert [r.config.seed for r in store.list(ws="a", search=f"{ids[7]}")] == [7]
    assert store.count(search="100%") == 0  # LIKE's wildcards are matched as text
    store.finish(ids[3], "failed", message="x")
    assert [r.id for r in store.list(("failed", "interrupted"), ws="a")] == [ids[3]]
    assert store.counts(ws="a") == {"queued": 119, "failed": 1} and store.counts(ws="b") == {"queued": 1}


def test_a_store_from_before_workspaces_opens_with_its_runs_common_to_all(tmp_path):
    db = tmp_path / "runs.sqlite"
    with sqlite3.connect(db) as c:  # the schema as it was before workspaces
        c.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, config TEXT NOT NULL, status TEXT NOT NULL, "
                  "created REAL NOT NULL, updated REAL NOT NULL, progress REAL NOT NULL DEFAULT 0, "
                  "message TEXT NOT NULL DEFAULT '', metrics TEXT NOT NULL DEFAULT '{}', "
                  "provenance TEXT NOT NULL DEFAULT '{}', seconds REAL, pid INTEGER, host TEXT, "
                  "cancel INTEGER NOT NULL DEFAULT 0, owner TEXT NOT NULL DEFAULT '', claimed REAL)")
        import json

        for cfg, owner in ((TINY, "cli-123"), (TINY.replace(seed=1), "session-abc")):
            c.execute("INSERT INTO runs (id, config, status, created, updated, owner) VALUES (?,?,?,?,?,?)",
                      (cfg.run_id(), json.dumps(cfg.to_dict()), "done", 1.0, 1.0, owner))
    store = Store(tmp_path)
    assert {r.queued_by for r in store.list()} == {COMMON}
    assert store.count(ws="anyone") == 2 and store.count(ws=COMMON) == 2
    assert store.submit(TINY, ws="anyone") == (TINY.run_id(), False)  # still reused


def test_the_admin_key_is_made_once_private_and_env_overrides(tmp_path, monkeypatch):
    monkeypatch.delenv("TLAB_ADMIN_KEY", raising=False)
    assert admin_key(tmp_path) is None and not is_admin(tmp_path, "")
    key = make_admin_key(tmp_path)
    assert make_admin_key(tmp_path) == key and len(key) >= 20
    assert (tmp_path / "admin-key").stat().st_mode & 0o077 == 0
    assert is_admin(tmp_path, key) and not is_admin(tmp_path, key[:-1]) and not is_admin(tmp_path, None)
    monkeypatch.setenv("TLAB_ADMIN_KEY", "from-the-env")
    assert is_admin(tmp_path, "from-the-env") and not is_admin(tmp_path, key)


# -- the command line against the same store ---------------------------------------------
def test_the_cli_cannot_stop_or_delete_another_workspaces_runs_without_the_key(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TLAB_ADMIN_KEY", raising=False)
    monkeypatch.delenv("TLAB_WORKSPACE", raising=False)
    store = Store(tmp_path)
    theirs, _ = store.submit(TINY, ws="alice")
    ours, _ = store.submit(TINY.replace(seed=1))  # the CLI's own: common
    args = ["--store", str(tmp_path)]
    assert main(["runs", "cancel", theirs, *args]) == 2
    assert "another workspace" in capsys.readouterr().err and store.get(theirs).status == "queued"
    assert main(["runs", "delete", theirs, *args]) == 2
    assert "belongs to workspace(s) alice" in capsys.readouterr().err and store.get(theirs) is not None
    assert main(["runs", "delete", theirs, "--admin-key", "guess", *args]) == 2
    assert "not this store's admin key" in capsys.readouterr().err and store.get(theirs) is not None

    assert main(["runs", "list", "--json", *args]) == 0
    listed = capsys.readouterr().out
    assert ours in listed and theirs not in listed
    assert main(["runs", "list", "--all", *args]) == 0 and theirs in capsys.readouterr().out
    assert main(["runs", "cancel", theirs, "--workspace", "alice", *args]) == 0  # as alice: hers
    assert store.get(theirs).status == "cancelled"

    assert main(["admin-key", *args]) == 0
    key = capsys.readouterr().out.strip()
    assert main(["runs", "delete", theirs, "--admin-key", key, *args]) == 0
    assert f"{theirs}: deleted" in capsys.readouterr().out and store.get(theirs) is None
    assert main(["runs", "delete", ours, *args]) == 0 and store.get(ours) is None


# -- the app: pages list the workspace's runs; links and widgets grant nothing more -------
def _app(root, monkeypatch, ws: str, **params):
    import ui.store

    monkeypatch.setattr(ui.store, "ensure_worker", lambda store: None)  # queued, not trained
    at = app_for(root, monkeypatch)
    at.query_params["ws"] = ws
    for k, v in params.items():
        at.query_params[k] = v
    return at


def test_the_history_lists_this_workspaces_runs_and_the_switch_lists_all(tmp_path, monkeypatch):
    store = Store(tmp_path)
    mine, _ = store.submit(TINY, ws="mine")
    theirs, _ = store.submit(TINY.replace(seed=1), ws="theirs")
    at = _app(tmp_path, monkeypatch, "mine")
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert list(at.dataframe[0].value["id"]) == [mine]
    assert any("1 more run belongs to other workspaces" in c.value for c in at.caption)
    at.toggle(key="tl_all_runs").set_value(True).run()
    assert set(at.dataframe[0].value["id"]) == {mine, theirs}
    assert any("Workspace `mine`" in e.label for e in at.sidebar.expander)


def test_a_link_cannot_grant_stopping_another_workspaces_run(tmp_path, monkeypatch):
    """``?ws=`` joins a workspace by design; anything else in a link (an ``admin`` flag,
    another workspace's run ids) shows runs but never a Stop for a run it did not queue."""
    store = Store(tmp_path)
    theirs, _ = store.submit(TINY, ws="theirs")
    store.submit(TINY, ws="mine")  # listed in mine too: I see it and its result
    at = _app(tmp_path, monkeypatch, "mine", admin="1", tl_admin="1", runs=theirs)
    at.run()
    at.session_state["train_ids"] = [theirs]
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert not [b for b in at.button if b.label == "Stop"]
    assert any("another workspace's run" in c.value for c in at.caption)
    assert not any("teacher" in e.label for e in at.sidebar.expander)
    at.switch_page("app_pages/compare.py").run()  # viewing is open: the linked run is there
    assert not at.exception and at.multiselect(key="compare_runs").value == [theirs]
    assert Store(tmp_path).get(theirs).status == "queued"


def test_the_queuing_workspace_stops_its_run_and_the_teacher_key_stops_any(tmp_path, monkeypatch):
    monkeypatch.setenv("TLAB_ADMIN_KEY", "teacher-secret-key")
    store = Store(tmp_path)
    mine, _ = store.submit(TINY, ws="mine")
    theirs, _ = store.submit(TINY.replace(seed=1), ws="theirs")
    at = _app(tmp_path, monkeypatch, "mine")
    at.run()
    at.session_state["train_ids"] = [mine, theirs]
    at.switch_page("app_pages/train.py").run()
    stops = [b for b in at.button if b.label == "Stop"]
    assert [b.key for b in stops] == [f"train_stop_{mine}"]
    stops[0].click().run()
    assert Store(tmp_path).get(mine).status == "cancelled" and Store(tmp_path).get(theirs).status == "queued"

    at.text_input(key="ws_admin_try").input("wrong").run()
    assert any("not this server's admin key" in e.value for e in at.sidebar.error)
    at.text_input(key="ws_admin_try").input("teacher-secret-key").run()
    assert any("teacher" in e.label for e in at.sidebar.expander)
    at.button(key=f"train_stop_{theirs}").click().run()
    assert Store(tmp_path).get(theirs).status == "cancelled"


def test_a_session_joins_a_workspace_from_the_sidebar_and_the_url_follows(tmp_path, monkeypatch):
    store = Store(tmp_path)
    shared, _ = store.submit(TINY, ws="class-7b")
    at = _app(tmp_path, monkeypatch, "solo")
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.dataframe  # nothing in "solo" yet
    at.text_input(key="ws_join_code").input("not a code!")
    at.button(key="FormSubmitter:ws_join-Join").click().run()
    assert any("3 to 32 letters" in e.value for e in at.sidebar.error)
    at.text_input(key="ws_join_code").input("Class-7B")
    at.button(key="FormSubmitter:ws_join-Join").click().run()
    assert at.query_params["ws"] == ["class-7b"] or at.query_params["ws"] == "class-7b"
    assert list(at.dataframe[0].value["id"]) == [shared]
