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
    for cmd in ("list", "show", "pretrain", "run", "runs", "worker", "strategies", "setup", "adapt", "advise",
                "budget", "yosinski"):
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


def test_adapt_records_a_study_that_reruns_from_the_store(tmp_path, capsys, monkeypatch):
    """`tlcore adapt --record` writes the table the page shows, with a command free of
    local paths; a second call reuses the stored runs and prints the same numbers."""
    args = ["adapt", "--dataset", "digits", "--target", "digits:invert=5", "--backbone", "lab_mnist",
            "--epochs", "2", "--labels-per-class", "5", "--seeds", "0", "--methods", "source_only,dann",
            "--store", str(tmp_path / "s"), "--quiet"]
    out = tmp_path / "adapt_x.json"
    monkeypatch.setattr("sys.argv", ["tlcore", *args, "--record", str(out), "--title", "tiny"])
    assert main([*args, "--record", str(out), "--title", "tiny"]) == 0
    first = capsys.readouterr().out
    rec = json.loads(out.read_text())
    assert rec["title"] == "tiny" and [r["method"] for r in rec["rows"]] == ["source_only", "dann"]
    assert "--store" not in rec["command"] and "--record" not in rec["command"] and "digits:invert=5" in rec["command"]
    assert "DANN" in rec["verdict"]
    assert main([*args, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert [r["target_accuracy"] for r in again["rows"]] == [r["target_accuracy"] for r in rec["rows"]]
    assert "source_only" in first


def test_advise_with_check_prints_both_rankings(tmp_path, capsys):
    assert main(["advise", "--dataset", "digits", "--backbones", "lab_mnist,lab_fashion", "--backbone", "lab_mnist",
                 "--labels-per-class", "5", "--epochs", "1", "--check", "--store", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["advice"]["strategy"] in {"feature_extraction", "finetune_top", "finetune_all"}
    for axis in ("strategies", "backbones"):
        assert -1.0 <= out["check"][axis]["tau"] <= 1.0
