"""The run store: persistence, queue, cancel, export, and surviving a killed process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.engine_helpers import TINY
from tlcore.jobs import execute
from tlcore.runs import Store


def test_submit_execute_and_reload(tmp_path):
    store = Store(tmp_path)
    rid, queued = store.submit(TINY)
    assert queued and rid == TINY.run_id()
    assert store.submit(TINY) == (rid, False)  # queued already: not twice
    assert store.claim_next() == rid
    execute(store, rid)
    rec = Store(tmp_path).get(rid)  # a fresh handle, as after a restart
    assert rec.status == "done"
    assert len(rec.history) == TINY.epochs
    assert rec.config == TINY
    assert 0 <= rec.metrics["test_accuracy"] <= 1
    assert rec.provenance["weights"]["files"][0]["sha256"]
    art = store.load_artifacts(rid)
    assert art["features_test"].shape[0] == len(art["labels_test"])
    assert store.submit(TINY) == (rid, False)  # done: reused, not re-run


def test_export_csv_and_json(tmp_path):
    store = Store(tmp_path)
    rid, _ = store.submit(TINY)
    execute(store, rid)
    text = store.export_csv([rid])
    lines = text.strip().splitlines()
    assert len(lines) == 1 + TINY.epochs and "val_acc" in lines[0]
    data = json.loads(store.export_json([rid]))
    assert data[0]["run_id"] == rid and len(data[0]["history"]) == TINY.epochs
    assert store.delete(rid) and store.get(rid) is None and not store.artifact_dir(rid).exists()


def test_cancel_while_running(tmp_path):
    store = Store(tmp_path)
    cfg = TINY.replace(epochs=50)
    rid, _ = store.submit(cfg)
    store.start(rid)
    calls = {"n": 0}

    def on_progress(frac, msg):
        calls["n"] += 1
        if calls["n"] == 3:
            store.request_cancel(rid)

    execute(store, rid, on_progress=on_progress)
    rec = store.get(rid)
    assert rec.status == "cancelled"
    assert len(rec.history) < 50


def test_failed_run_records_why(tmp_path):
    store = Store(tmp_path)
    rid, _ = store.submit(TINY.replace(labels_per_class=100000))
    execute(store, rid)
    rec = store.get(rid)
    assert rec.status == "failed" and "labels" in rec.message.lower()


@pytest.mark.slow
def test_killed_process_leaves_a_store_that_opens(tmp_path):
    store = Store(tmp_path)
    rid0, _ = store.submit(TINY)
    execute(store, rid0)  # an earlier, finished run
    cmd = [sys.executable, "-m", "tlcore", "run", "--store", str(tmp_path), "--quiet", "--backbone", "lab_mnist",
           "--dataset", "digits", "--strategy", "finetune_all", "--epochs", "200", "--labels-per-class", "5",
           "--test-per-class", "20", "--val-per-class", "5", "--batch-size", "16"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    deadline = time.time() + 120
    running = None
    while time.time() < deadline:
        running = [r for r in store.list() if r.id != rid0]
        if running and len(store.get(running[0].id).history) >= 2:
            break
        time.sleep(0.2)
    assert running, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reopened = Store(tmp_path)  # opening recovers dead runs
    assert reopened.integrity_ok()
    rec = reopened.get(running[0].id)
    assert rec.status == "interrupted" and "re-run" in rec.message
    assert len(rec.history) >= 2  # finished epochs survive
    first = reopened.get(rid0)
    assert first.status == "done" and len(first.history) == TINY.epochs
    # and it can be re-run
    assert reopened.submit(rec.config) == (rec.id, True)


def test_run_ids_name_the_results_version():
    """A store made before a change that alters results must not answer for the new code:
    the run id hashes RESULTS_VERSION with the config."""
    from tlcore import config as config_module
    from tlcore.config import RunConfig

    cfg = RunConfig(dataset="digits")
    now = cfg.run_id()
    assert now == RunConfig(dataset="digits").run_id() and now != cfg.replace(seed=1).run_id()
    old = config_module.RESULTS_VERSION
    try:
        config_module.RESULTS_VERSION = old - 1
        assert cfg.run_id() != now
    finally:
        config_module.RESULTS_VERSION = old
