"""A real Ray cluster, on loopback: ``ray start --head`` and a second node with ``ray start
--address``, one CPU each, then ``tlcore sweep --engine ray --address`` from a separate
driver. The trials must run on both nodes and the store must hold each exactly once.
The cluster is stopped (``ray stop``) whatever happens."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import free_port
from tlcore.runs import Store

pytest.importorskip("ray", reason="the Ray extra (pip install -e .[ray]); make test installs it")
pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def _ray_cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    ray = str(Path(sys.executable).with_name("ray"))
    return subprocess.run([ray, *args], env=env, capture_output=True, text=True, timeout=180)


def test_a_sweep_spreads_over_two_nodes_and_stores_each_trial_once(tmp_path):
    port = free_port()
    # Ray 2.5x+ asks every process of a cluster for one shared token: a fresh one for this test
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0"}
    addr = f"127.0.0.1:{port}"
    try:
        head = _ray_cli("start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=1",
                        "--include-dashboard=false", env=env)
        assert head.returncode == 0, head.stderr[-2000:]
        node = _ray_cli("start", f"--address={addr}", "--node-ip-address=127.0.0.1", "--num-cpus=1", env=env)
        assert node.returncode == 0, node.stderr[-2000:]
        store = tmp_path / "s"
        sweep = subprocess.run(
            [sys.executable, "-m", "tlcore", "sweep", "--backbone", "lab_mnist", "--dataset", "digits",
             "--labels-per-class", "10", "--epochs", "5", "--strategy", "finetune_top", "--store", str(store),
             "--grid", "lr=0.03,0.01,0.003,0.001", "--engine", "ray", "--address", addr, "--json"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
        assert sweep.returncode == 0, sweep.stderr[-3000:]
        out = json.loads(sweep.stdout)
    finally:
        _ray_cli("stop", "--force", env=env)
    assert [t["status"] for t in out["trials"]] == ["done"] * 4
    s = Store(store)
    recs = [s.get(t["run_id"]) for t in out["trials"]]
    assert len({r.provenance["ray"]["node_id"] for r in recs}) == 2  # both nodes trained
    assert len(s.list()) == 4 and all(len(r.history) == 5 for r in recs)  # each once, every epoch
