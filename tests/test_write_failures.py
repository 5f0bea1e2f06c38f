"""A read-only or full data folder: a clear error naming the folder, no partial files.

Tests run as root in CI, where ``chmod`` does not stop writes, so the failures are made
real where that is possible without privileges (a store "folder" under a regular file
cannot be created by anyone) and simulated by monkeypatching the one call that would
fail otherwise (SQLite refusing a read-only database, ``torch.save`` or ``os.replace``
hitting a full disk, the latter after writing part of its file).
"""

from __future__ import annotations

import errno
import sqlite3

import pytest

from tests.engine_helpers import TINY
from tests.upload_helpers import GOOD
from tests.upload_helpers import write_zip as _zip
from tlcore import jobs, preview
from tlcore import runs as runs_mod
from tlcore.preview import UploadRejected, ingest_upload
from tlcore.runs import Store, StoreUnavailable

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def test_store_folder_cannot_be_created(tmp_path):
    # guards: the try/except in Store.__init__ (was a bare NotADirectoryError)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StoreUnavailable, match="afile.*TLAB_DATA_DIR"):
        Store(tmp_path / "afile" / "store")


def test_store_database_read_only(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(runs_mod.sqlite3, "connect", refuse)
    with pytest.raises(StoreUnavailable, match="readonly database.*writable folder"):
        Store(tmp_path)


def test_failed_artifact_write_leaves_no_partial_file(tmp_path, monkeypatch):
    # guards: the unlink in Store.save_artifacts and the OSError branch in jobs.execute
    import torch  # tlcore.runs imports it only where it saves (a listing page imports no torch)

    real = torch.save

    def half_then_full(obj, path, *a, **k):
        if not str(path).rsplit("/", 1)[-1].startswith("artifacts.pt"):
            return real(obj, path, *a, **k)  # other writes (caches, the model buffer) succeed
        with open(path, "wb") as f:
            f.write(b"half a pickle")
        raise ENOSPC

    monkeypatch.setattr(torch, "save", half_then_full)
    store = Store(tmp_path)
    rid, _ = store.submit(TINY.replace(epochs=1))
    assert jobs.execute(store, rid) is None  # no exception: the worker lives on
    rec = store.get(rid)
    assert rec.status == "failed" and "No space left" in rec.message and "results" in rec.message
    assert list(store.artifact_dir(rid).iterdir()) == []  # no artifacts.pt, no *.tmp*


def test_upload_on_a_full_disk_leaves_nothing(tmp_data_dir, tmp_path, monkeypatch):
    # guards: write_bytes inside the try in ingest_upload (its partial .part was left behind)
    real = preview.Path.write_bytes

    def half_then_full(self, data):
        real(self, data[: len(data) // 2])
        raise ENOSPC

    monkeypatch.setattr(preview.Path, "write_bytes", half_then_full)
    with pytest.raises(UploadRejected, match="cannot be stored.*No space left"):
        ingest_upload(_zip(tmp_path / "ok.zip", GOOD).read_bytes(), "ok.zip")
    assert list((tmp_data_dir / "uploads").iterdir()) == []


def test_upload_move_fails_leaves_nothing(tmp_data_dir, tmp_path, monkeypatch):
    # guards: the OSError branch around the final os.replace calls in ingest_upload
    real = preview.os.replace

    def fail_on_zip(src, dst):
        if str(dst).endswith(".zip"):
            raise ENOSPC
        real(src, dst)

    monkeypatch.setattr(preview.os, "replace", fail_on_zip)
    with pytest.raises(UploadRejected, match="cannot be stored"):
        ingest_upload(_zip(tmp_path / "ok.zip", GOOD).read_bytes(), "ok.zip")
    assert list((tmp_data_dir / "uploads").iterdir()) == []


def test_upload_data_folder_unwritable(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("TLAB_DATA_DIR", str(tmp_path / "afile" / "data"))
    with pytest.raises(UploadRejected, match="not writable.*TLAB_DATA_DIR"):
        ingest_upload(b"PK", "x.zip")
