"""Smoke tests of bench/bench_training.py, bench_umap.py, bench_rerun.py, bench_predict.py and
bench_estimate.py: they run end to end and print every table line.

Speed targets are not asserted: timings belong to the benchmark's own report, not to a
unit test on a shared CI machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tlcore.models import available_backbones

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "bench_training.py"

# (label fragment, how many table lines carry it)
EXPECTED = [
    ("feature extraction, lab_synth_digits 32px, cold cache vs plain loop", 1),
    ("feature extraction, lab_synth_digits 32px, cold cache vs one inference pass (floor)", 1),
    ("feature extraction, lab_synth_digits 32px, warm feature cache vs plain loop", 1),
    ("feature extraction, mobilenet_v2 ImageNet 64px, cold cache vs plain loop", 1),
    ("feature extraction, mobilenet_v2 ImageNet 64px, cold cache vs one inference pass (floor)", 1),
    ("feature extraction, mobilenet_v2 ImageNet 64px, warm feature cache vs plain loop", 1),
    ("fine-tune top group (top_k=1), lab_synth_digits 32px vs plain loop", 1),
    ("fine-tune all, lab_synth_digits 32px vs plain loop", 1),
]
NUMBER = re.compile(r"^\d+(\.\d+)?$")


def _weights_missing() -> list[str]:
    return [n for n in ("lab_synth_digits", "mobilenet_v2") if n not in available_backbones()]


@pytest.mark.slow
def test_bench_training_quick_prints_every_line():
    if missing := _weights_missing():
        pytest.skip(f"pretrained weights not on this machine: {', '.join(missing)}")
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--threads", "1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=900, check=False)
    assert out.returncode == 0, out.stderr[-4000:]
    lines = out.stdout.splitlines()
    header = "| variant | engine s | plain s | ratio | target | met? | peak MB engine | peak MB plain |"
    assert header in lines
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")]
            for ln in lines if ln.startswith("| ") and ln != header]
    assert len(rows) == len(EXPECTED), out.stdout
    for label, count in EXPECTED:
        assert sum(r[0] == label for r in rows) == count, f"missing line {label!r}:\n{out.stdout}"
    for variant, engine_s, plain_s, ratio, _target, met, mem_e, mem_p in rows:
        assert NUMBER.match(engine_s) and float(engine_s) > 0, variant
        assert NUMBER.match(plain_s) and float(plain_s) > 0, variant
        assert ratio.endswith("x") and NUMBER.match(ratio[:-1]) and float(ratio[:-1]) > 0, variant
        assert met in ("yes", "NO", "-"), variant
        for mb in (mem_e, mem_p):  # "-" only where /proc is missing (not Linux)
            assert re.match(r"^-?\d+$", mb) or (mb == "-" and not Path("/proc/self/status").exists())
    assert "Peak MB:" in out.stdout and "Clock: wall seconds" in out.stdout


BENCH_UMAP = ROOT / "bench" / "bench_umap.py"


def _table(lines: list[str], header: str) -> list[list[str]]:
    """The cells of the rows under ``header`` (after its |---| line), up to the first blank line."""
    start = lines.index(header) + 2
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("| ")), len(lines))
    return [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines[start:end]]


@pytest.mark.slow
def test_bench_umap_quick_prints_both_tables():
    out = subprocess.run([sys.executable, str(BENCH_UMAP), "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=900, check=False)
    assert out.returncode == 0, out.stderr[-4000:]
    lines = out.stdout.splitlines()
    fit = _table(lines, "| variant | ours s | umap default s | ratio | trust ours | trust default | diff | "
                        "target | met? |")
    assert len(fit) == 1 and fit[0][0] == "fit 500 x 512 clustered features", out.stdout
    _variant, ours_s, base_s, ratio, t_ours, t_base, diff, _target, met = fit[0]
    for v in (ours_s, base_s, t_ours, t_base):
        assert NUMBER.match(v) and float(v) > 0, out.stdout
    assert ratio.endswith("x") and float(ratio[:-1]) > 0
    assert re.match(r"^[+-]\d\.\d{4}$", diff) and met in ("yes", "NO")
    starts = _table(lines, "| numba cache | first map asked | warm-up s | first fit s | start to map s | "
                           "CPU s | target | met? |")
    assert [(r[0], r[1]) for r in starts] == [
        ("cold (empty dir)", "after warm-up"), ("cold (empty dir)", "at once"),
        ("warm (on disk)", "after warm-up"), ("warm (on disk)", "at once")], out.stdout
    for cache, asked, warm_s, fit_s, total_s, cpu_s, _target, met in starts:
        assert NUMBER.match(fit_s) and NUMBER.match(total_s) and float(total_s) >= float(fit_s) > 0
        assert NUMBER.match(cpu_s) and float(cpu_s) > 0
        assert NUMBER.match(warm_s) if asked == "after warm-up" else warm_s == "-"
        assert met in (("yes", "NO") if cache.startswith("warm") else ("-",))
    assert "Ours deterministic (same coordinates every repeat): yes" in out.stdout
    assert "Machine:" in out.stdout and "Versions:" in out.stdout


@pytest.mark.slow
def test_bench_rerun_times_every_page(tmp_path):
    """bench/bench_rerun.py changes a widget on every page of app.py's navigation (or
    reruns it plainly) and prints a timed row for each; none may be missing or fail."""
    env = {**os.environ, "TLAB_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_rerun.py")], capture_output=True,
                         text=True, cwd=ROOT, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in out.stdout.splitlines() if line.startswith("| ") and ".py" in line]
    pages = sorted(p.name for p in (ROOT / "app_pages").glob("*.py"))
    assert sorted(r[0].strip() for r in rows) == pages, out.stdout
    for r in rows:
        assert NUMBER.match(r[2].strip()) and NUMBER.match(r[3].strip()), r
    assert "exception" not in out.stdout and "not found" not in out.stdout


BENCH_PREDICT = ROOT / "bench" / "bench_predict.py"


@pytest.mark.slow
def test_bench_predict_quick_prints_every_row(tmp_path):
    """bench/bench_predict.py trains its two runs, answers both pictures with each and prints
    a timed row per (model, picture) with numbers in every cell."""
    if missing := _weights_missing():
        pytest.skip(f"pretrained weights not on this machine: {', '.join(missing)}")
    env = {**os.environ, "TLAB_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, str(BENCH_PREDICT), "--quick", "--threads", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, check=False, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    lines = out.stdout.splitlines()
    rows = _table(lines, "| model | input | forward ms | prepare ms | predict ms | heat map ms "
                         "| total ms | total / forward | target | met? |")
    assert [(r[0], r[1]) for r in rows] == [
        (m, i) for m in ("lab_synth_digits 32px", "mobilenet_v2 ImageNet 64px")
        for i in ("drawing 280x280 PNG", "photo 1600x1200 JPEG", "phone photo 4032x3024 JPEG")
    ], out.stdout
    for _model, _input, *ms, ratio, _target, met in rows:
        assert all(NUMBER.match(v) and float(v) > 0 for v in ms), ms
        assert ratio.endswith("x") and float(ratio[:-1]) > 0 and met in ("yes", "NO")
    assert "Machine:" in out.stdout and "first answer" in out.stdout


BENCH_ESTIMATE = ROOT / "bench" / "bench_estimate.py"


@pytest.mark.slow
def test_bench_estimate_quick_prints_every_row():
    """bench/bench_estimate.py runs each quick config through the worker and prints the
    estimate beside the real time, with numbers in every cell (the 25% target is not asserted)."""
    if "lab_synth_digits" in _weights_missing():
        pytest.skip("pretrained weights not on this machine: lab_synth_digits")
    out = subprocess.run([sys.executable, str(BENCH_ESTIMATE), "--quick", "--threads", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-4000:]
    rows = _table(out.stdout.splitlines(), "| config | estimated s | actual s | ratio | error | target | met? |")
    assert [r[0] for r in rows] == [f"lab_synth_digits 32px, {s}" for s in (
        "scratch", "feature extraction", "fine-tune top 1", "fine-tune all")], out.stdout
    for _name, est, actual, ratio, error, _target, met in rows:
        assert NUMBER.match(est) and NUMBER.match(actual) and float(est) > 0 and float(actual) > 0
        assert ratio.endswith("x") and float(ratio[:-1]) == pytest.approx(float(est) / float(actual), rel=0.2)
        assert error.endswith("%") and met in ("yes", "NO")
    assert "Track record over all 4 runs" in out.stdout and "Machine:" in out.stdout
