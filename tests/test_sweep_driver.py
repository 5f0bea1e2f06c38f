"""The app's sweep driver (``tlcore.sweep_driver``): a process of its own drives a grid or a
TPE search through the server's workers, keeps its state in one file, stops on request
with its trials cancelled, and is refused before it starts for what cannot run."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.conftest import _workers_under, stop_pids
from tests.engine_helpers import TINY
from tlcore import sweep_driver
from tlcore.runs import FINAL, Store
from tlcore.sweep import SweepSpec, best, parse_dim

BASE = TINY.replace(strategy="finetune_top", epochs=2)


def _wait(root, sid, states, timeout=240.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        doc = sweep_driver.state(root, sid)
        if doc and doc["state"] in states:
            return doc
        time.sleep(0.3)
    raise AssertionError(f"sweep {sid} never reached {states}: {sweep_driver.state(root, sid)}; log: "
                         + sweep_driver.path(root, sid).with_suffix(".log").read_text(errors="replace")[-2000:])


@pytest.mark.slow
def test_a_tpe_driver_trains_through_the_workers_and_records_the_best(tmp_path):
    root = tmp_path / "s"
    store = Store(root)
    spec = SweepSpec(base=BASE, dims=(parse_dim("lr=0.001:0.1:log"),), search="tpe", trials=3)
    try:
        doc = sweep_driver.launch(root, spec, engine="local", concurrency=1, ws="class-a")
        assert doc["state"] in sweep_driver.LIVE and doc["pid"]
        again = sweep_driver.launch(root, spec, engine="local", concurrency=1, ws="class-a")
        assert again["pid"] == doc["pid"]  # one driver per sweep
        end = _wait(root, spec.sweep_id(), ("done", "failed", "died"))
    finally:
        stop_pids(_workers_under(str(root)))
    assert end["state"] == "done", end
    _, ids = store.sweep(spec.sweep_id())
    recs = [store.get(i) for i in ids]
    assert len(recs) == 3 and all(r.status == "done" for r in recs)
    assert end["best"] == best(recs, "val_accuracy").id
    assert {r.pid for r in recs} != {end["pid"]}  # the workers trained them, not the driver
    assert set(ids) <= {r.id for r in store.list(ws="class-a")}


@pytest.mark.slow
def test_stop_cancels_what_is_in_flight_and_says_how_to_resume(tmp_path):
    root = tmp_path / "s"
    store = Store(root)
    spec = SweepSpec(base=BASE.replace(epochs=30, labels_per_class=30),
                     dims=(parse_dim("lr=0.05,0.01,0.001"),))
    sid = spec.sweep_id()
    try:
        sweep_driver.launch(root, spec, engine="local", concurrency=1)
        deadline = time.time() + 120
        while time.time() < deadline and not any(r.status == "running" for r in store.list()):
            time.sleep(0.2)
        assert sweep_driver.stop(root, sid)
        end = _wait(root, sid, ("stopped", "done", "failed", "died"))
        deadline = time.time() + 60
        while time.time() < deadline and not all(r.status in FINAL for r in store.list()):
            time.sleep(0.2)
    finally:
        stop_pids(_workers_under(str(root)))
    assert end["state"] == "stopped" and "again to resume" in end["message"]
    assert all(r.status in FINAL for r in store.list())  # nothing left queued or training
    assert not sweep_driver.stop(root, sid)  # nothing alive to stop


def test_refusals_come_before_any_process(tmp_path):
    spec = SweepSpec(base=BASE, dims=(parse_dim("lr=0.01,0.001"),))
    with pytest.raises(ValueError, match="unknown engine 'spark'"):
        sweep_driver.launch(tmp_path, spec, engine="spark")
    with pytest.raises(ValueError, match="from 1 to 64"):
        sweep_driver.launch(tmp_path, spec, concurrency=0)
    with pytest.raises(ValueError, match="lr"):
        sweep_driver.launch(tmp_path, SweepSpec(base=BASE, dims=(parse_dim("lr=-1:2"),), search="tpe"))
    assert not (tmp_path / "sweep_drivers").exists()


def test_a_driver_whose_process_is_gone_reads_died_with_its_log(tmp_path):
    p = sweep_driver.path(tmp_path, "abc")
    p.parent.mkdir(parents=True)
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    p.write_text(json.dumps({"state": "running", "pid": dead}))
    p.with_suffix(".log").write_text("Traceback ...\nMemoryError\n")
    doc = sweep_driver.state(tmp_path, "abc")
    assert doc["state"] == "died" and "MemoryError" in doc["message"]
    assert sweep_driver.state(tmp_path, "nothing") is None
