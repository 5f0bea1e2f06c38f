"""Smoke test of bench/bench_training.py: it runs end to end and prints every table line.

Speed targets are not asserted: timings belong to the benchmark's own report, not to a
unit test on a shared CI machine.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tlcore.models import get_spec

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
    missing = []
    for name in ("lab_synth_digits", "mobilenet_v2"):
        spec = get_spec(name)
        if not spec.weights[spec.default_weights].check().available:
            missing.append(name)
    return missing


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
