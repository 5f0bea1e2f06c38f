"""The CLI is a contract: JSON shapes that later checks and scripts rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tlcore.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tlcore", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_help_documents_every_command():
    out = _cli("--help").stdout
    for cmd in ("list", "show", "pretrain", "run", "runs", "worker", "strategies", "setup"):
        assert cmd in out


def test_list_datasets_json(capsys):
    assert main(["list", "datasets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"mnist", "fashion_mnist", "digits", "synth_digits", "mnist_m"} <= names
    for r in rows:
        assert isinstance(r["available"], bool) and r["source"]
    assert all(r["available"] for r in rows if r["name"] in {"mnist", "fashion_mnist", "digits", "synth_digits", "mnist_m"})


def test_list_backbones_json(capsys):
    assert main(["list", "backbones", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by = {r["name"]: r for r in rows}
    assert by["mobilenet_v2"]["available"] is True
    assert all(r["available"] for r in rows if r["name"].startswith("lab_"))
    assert all(r["source"] and isinstance(r["available"], bool) for r in rows)


def test_show_backbone(capsys):
    assert main(["show", "backbone", "lab_mnist", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert [g["name"] for g in obj["groups"]] == ["stem", "block1", "block2", "block3", "head"]


def test_run_json_contract(tmp_path):
    args = ["run", "--json", "--store", str(tmp_path), "--backbone", "lab_mnist", "--dataset", "digits",
            "--target", "digits:rotate=3", "--strategy", "feature_extraction", "--epochs", "2",
            "--labels-per-class", "5", "--test-per-class", "10", "--val-per-class", "5", "--seed", "1"]
    p = _cli(*args)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout)
    assert out["status"] == "done" and len(out["run_id"]) == 16
    assert out["config"]["target"] == "digits:rotate=3"
    assert 0 <= out["metrics"]["test_accuracy"] <= 1 and 0 <= out["metrics"]["target_accuracy"] <= 1
    assert out["seconds"] > 0
    assert "%" in p.stderr  # the progress bar
    again = json.loads(_cli(*args).stdout)  # same config: the stored result, same numbers
    assert again["reused"] and again["metrics"] == out["metrics"]
    listed = json.loads(_cli("runs", "list", "--json", "--store", str(tmp_path)).stdout)
    assert [r["run_id"] for r in listed] == [out["run_id"]]


def test_bad_input_is_a_message_not_a_traceback(tmp_path):
    p = _cli("run", "--store", str(tmp_path), "--dataset", "no_such_dataset", "--epochs", "1")
    assert p.returncode != 0
    assert "Traceback" not in p.stderr and "no_such_dataset" in (p.stderr + p.stdout)
