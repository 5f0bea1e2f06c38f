"""Smoke tests of bench/bench_training.py, bench_umap.py, bench_rerun.py, bench_predict.py and
bench_estimate.py: they run end to end and print every table line.

Speed targets are not asserted: timings belong to the benchmark's own report, not to a
unit test on a shared CI machine. The training, UMAP and rerun benches run with ``--smoke``
(smaller than ``--quick``: see each script's docstring), which prints the same lines with
measured numbers too small to read.
"""

from __future__ import annotations

import importlib.util
import math
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
SANITY = re.compile(r"^- (.+): (\d\.\d{3}) / (\d\.\d{3}), frozen prefix cut at group (\d+) of (\d+)$")


def _ratio(cell: str) -> float:
    assert cell.endswith("x") and NUMBER.match(cell[:-1]), cell
    r = float(cell[:-1])
    assert math.isfinite(r) and r > 0, cell
    return r


def _is_quotient(ratio: str, num: str, den: str) -> bool:
    """``ratio`` (printed "N.NNx") is ``num / den`` (seconds), allowing for each cell's rounding
    to the digits it shows."""
    def half(cell: str) -> float:  # half a unit of the last digit shown
        return 0.5 * 10 ** -len(cell.partition(".")[2])
    r, n, d = float(ratio[:-1]), float(num), float(den)
    lo, hi = (n - half(num)) / (d + half(den)), (n + half(num)) / max(d - half(den), 1e-9)
    return lo - half(ratio[:-1]) <= r <= hi + half(ratio[:-1])


def _met_matches(ratio: float, target: str, met: str) -> bool:
    """The met? cell agrees with the printed ratio and target (within display rounding)."""
    if target == "(info)":
        return met == "-"
    m = re.match(r"^(>=|<=) (\d+(?:\.\d+)?)x (faster|of \w+)$", target)
    assert m, target
    bound = float(m[2])
    if abs(ratio - bound) < 0.01:
        return met in ("yes", "NO")
    return met == ("yes" if (ratio >= bound if m[1] == ">=" else ratio <= bound) else "NO")


def _weights_missing() -> list[str]:
    return [n for n in ("lab_synth_digits", "mobilenet_v2") if n not in available_backbones()]


@pytest.mark.slow
def test_bench_training_quick_prints_every_line():
    if missing := _weights_missing():
        pytest.skip(f"pretrained weights not on this machine: {', '.join(missing)}")
    out = subprocess.run([sys.executable, str(BENCH), "--smoke", "--threads", "1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-4000:]
    lines = out.stdout.splitlines()
    header = "| variant | engine s | plain s | ratio | target | met? | peak MB engine | peak MB plain |"
    assert header in lines
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")]
            for ln in lines if ln.startswith("| ") and ln != header]
    assert len(rows) == len(EXPECTED), out.stdout
    for label, count in EXPECTED:
        assert sum(r[0] == label for r in rows) == count, f"missing line {label!r}:\n{out.stdout}"
    for variant, engine_s, plain_s, ratio, target, met, mem_e, mem_p in rows:
        assert NUMBER.match(engine_s) and float(engine_s) > 0, variant
        assert NUMBER.match(plain_s) and float(plain_s) > 0, variant
        r = _ratio(ratio)
        # one repeat: the ratio is the pair's own; "<= ... of" lines give engine / baseline,
        # the others ("faster", "(info)") baseline / engine
        num, den = (engine_s, plain_s) if target.startswith("<=") else (plain_s, engine_s)
        assert _is_quotient(ratio, num, den), (variant, ratio, engine_s, plain_s)
        assert _met_matches(r, target, met), (variant, ratio, target, met)
        for mb in (mem_e, mem_p):  # "-" only where /proc is missing (not Linux)
            assert re.match(r"^-?\d+$", mb) or (mb == "-" and not Path("/proc/self/status").exists())
    assert "Peak MB:" in out.stdout and "Clock: wall seconds" in out.stdout
    assert "Data: mnist, 50 training images" in out.stdout  # --smoke's size, not --quick's
    sanity = [m for ln in lines if (m := SANITY.match(ln))]
    assert len(sanity) == 4, out.stdout
    for m in sanity:
        assert all(0 <= float(a) <= 1 for a in (m[2], m[3])) and 0 <= int(m[4]) <= int(m[5]), m[0]


BENCH_UMAP = ROOT / "bench" / "bench_umap.py"


def _table(lines: list[str], header: str) -> list[list[str]]:
    """The cells of the rows under ``header`` (after its |---| line), up to the first blank line."""
    start = lines.index(header) + 2
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("| ")), len(lines))
    return [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines[start:end]]


FIT_HEADER = ("| variant | ours s | umap default s | ratio | trust ours | trust default | diff | "
              "target | met? |")
STARTS_HEADER = ("| numba cache | first map asked | warm-up s | first fit s | start to map s | "
                 "CPU s | target | met? |")


def _check_starts(starts: list[list[str]]) -> None:
    for cache, asked, warm_s, fit_s, total_s, cpu_s, target, met in starts:
        assert NUMBER.match(fit_s) and NUMBER.match(total_s) and float(total_s) >= float(fit_s) > 0
        assert NUMBER.match(cpu_s) and float(cpu_s) > 0
        if asked == "after warm-up":
            assert NUMBER.match(warm_s) and float(total_s) >= float(warm_s) > 0
        else:
            assert warm_s == "-"
        if cache.startswith("warm"):
            assert target == "< 5 s"
            assert met == ("yes" if float(fit_s) < 5 else "NO") or fit_s == "5.00"  # 5.00: rounded
        else:
            assert (target, met) == ("-", "-")


@pytest.mark.slow
def test_bench_umap_quick_prints_both_tables():
    out = subprocess.run([sys.executable, str(BENCH_UMAP), "--smoke"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-4000:]
    lines = out.stdout.splitlines()
    fit = _table(lines, FIT_HEADER)
    assert len(fit) == 1 and fit[0][0] == "fit 200 x 512 clustered features", out.stdout
    _variant, ours_s, base_s, ratio, t_ours, t_base, diff, _target, met = fit[0]
    for v in (ours_s, base_s, t_ours, t_base):
        assert NUMBER.match(v) and float(v) > 0, out.stdout
    assert float(t_ours) <= 1 and float(t_base) <= 1
    r = _ratio(ratio)
    assert _is_quotient(ratio, base_s, ours_s), out.stdout  # one repeat: the pair's own ratio
    assert re.match(r"^[+-]\d\.\d{4}$", diff)
    assert float(diff) == pytest.approx(float(t_ours) - float(t_base), abs=2e-4)
    assert met == ("yes" if r >= 3 and float(diff) >= -0.03 else "NO") or abs(r - 3) < 0.1
    starts = _table(lines, STARTS_HEADER)  # --smoke: only the warm rows
    assert [(r[0], r[1]) for r in starts] == [
        ("warm (on disk)", "after warm-up"), ("warm (on disk)", "at once")], out.stdout
    _check_starts(starts)
    assert "Ours deterministic (same coordinates every repeat): yes" in out.stdout
    assert "--smoke: no cold rows" in out.stdout
    assert "Machine:" in out.stdout and "Versions:" in out.stdout


def test_bench_umap_report_prints_cold_rows():
    """The rows ``--smoke`` does not run: the full start-up table as ``report`` prints it
    (made-up numbers; the measuring is the smoke test's)."""
    spec = importlib.util.spec_from_file_location("bench_umap", BENCH_UMAP)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = bench.argparse.Namespace(dim=512, repeats=2, smoke=False)
    emb = bench.np.zeros((4, 2), dtype=bench.np.float32)
    fit = {"ours": [1.0, 2.0], "baseline": [8.0, 10.0], "trust_ours": [0.98, 0.97],
           "trust_baseline": [0.99, 0.98], "emb": [emb, emb.copy()]}
    starts = [{"cache": c, "mode": m, "warm_s": w, "fit_s": f, "total_s": 9.0, "cpu_s": 4.0}
              for c, m, w, f in (("cold", "wait", 8.0, 0.5), ("cold", "now", None, 8.5),
                                 ("warm", "wait", 3.0, 0.4), ("warm", "now", None, 6.0))]
    lines = bench.report(fit, starts, args, 2000, (1.0, 2.0)).splitlines()
    assert _table(lines, FIT_HEADER) == [["fit 2,000 x 512 clustered features", "1.50", "9.00", "6.5x",
                                          "0.9750", "0.9850", "-0.0100", ">= 3x, diff >= -0.03", "yes"]]
    starts_rows = _table(lines, STARTS_HEADER)
    assert [(r[0], r[1], r[-1]) for r in starts_rows] == [
        ("cold (empty dir)", "after warm-up", "-"), ("cold (empty dir)", "at once", "-"),
        ("warm (on disk)", "after warm-up", "yes"), ("warm (on disk)", "at once", "NO")]
    _check_starts(starts_rows)
    assert "Cold rows: an empty NUMBA_CACHE_DIR each" in "\n".join(lines)


@pytest.mark.slow
def test_bench_rerun_times_every_page(tmp_path):
    """bench/bench_rerun.py changes a widget on every page of app.py's navigation (or
    reruns it plainly) and prints a timed row for each; none may be missing or fail."""
    env = {**os.environ, "TLAB_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_rerun.py"), "--smoke"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600, env=env)
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


@pytest.mark.slow
def test_bench_load_smoke_every_session_answers_and_every_row_prints(tmp_path):
    """bench/bench_load.py --smoke: three browser sessions on one server, each with its own
    classic comparison; all nine runs done once each, every session shows its answer
    without a reload, and every row of the report has a measured value."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_load.py"), "--smoke",
                          "--shots", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=900, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = {r[0].strip(): r[1].strip() for r in
            (line.split("|")[1:-1] for line in out.stdout.splitlines() if line.startswith("| ")) if len(r) == 3}
    assert rows["answers on screen without a reload"] == "3 of 3"
    assert rows["runs done / queued"] == "9 / 9" and rows["runs trained twice"] == "0"
    assert rows["stalled sessions (answer after a reload?)"] == "none"
    assert int(rows["full reruns: count"]) > 0 and int(rows["live-view polls: count"]) > 0
    for name, value in rows.items():
        assert "nan" not in value and value != "-", (name, value)
