"""How long a page takes to rerun after a widget change (target: under 0.5 s).

Runs each page in Streamlit's AppTest (the real script, in this process), warms it once,
then changes one widget and times the rerun. AppTest adds its own overhead, so these
are upper bounds on what a browser session sees. The baseline is the same page's plain
rerun with no change, measured in the same process.

    python bench/bench_rerun.py
    python bench/bench_rerun.py --smoke    # the test's check: 2 changed reruns, 1 plain, per page

``--smoke`` (what ``tests/test_bench_smoke.py`` runs) times fewer reruns per page; most of
its time is each page's set-up (a fresh AppTest, the first visit), which it keeps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TLAB_WARMUP", "0")
os.environ.setdefault("TLAB_DATA_DIR", tempfile.mkdtemp(prefix="tlab-bench-"))

from streamlit.testing.v1 import AppTest  # noqa: E402

# page -> (widget kind, key, two values to alternate between)
CHANGES = {
    "app_pages/home.py": None,
    "app_pages/data.py": ("select_slider", "data_budget", (5, 20)),
    "app_pages/model.py": ("radio", "model_bn", ("stats", "frozen")),
    "app_pages/train.py": ("slider", "train_epochs", (5, 7)),
    "app_pages/compare.py": None,
    "app_pages/try_it.py": None,  # an empty store: only the pointer to Home
    "app_pages/embeddings.py": None,
    "app_pages/adapt.py": ("slider", "da_epochs", (5, 7)),
    "app_pages/advisor.py": ("multiselect", "adv_backbones", (["lab_mnist", "lab_fashion"], ["lab_mnist"])),
    "app_pages/experiments.py": ("multiselect", "exp_seeds", ([0], [0, 1])),
    "app_pages/lessons.py": ("radio", "lesson_pick", ("1_freeze_when_small", "3_domain_shift")),
}


# pages that only draw their controls once the setup has something: its link parameters
QUERY = {"app_pages/adapt.py": {"target": "mnist_m"}}


def timed(at: AppTest) -> float:
    t = time.perf_counter()
    at.run()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true",
                    help="2 changed reruns and 1 plain rerun per page (default 5 and 3)")
    args = ap.parse_args(argv)
    changes, plains = (2, 1) if args.smoke else (5, 3)
    print(f"| page | widget changed | rerun s (median of {changes}) | plain rerun s | target < 0.5 s |")
    print("|---|---|---|---|---|")
    components = None
    for page, change in CHANGES.items():
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        if components is not None:
            # Each AppTest's first run scans every installed package for Streamlit components
            # (~0.5 s here, untimed); a server does that once for all its sessions, so the
            # pages share the first AppTest's registry (private: if it moves, each scans again)
            at._bidi_component_manager = components
        at.query_params.update(QUERY.get(page, {}))
        at.run()
        components = getattr(at, "_bidi_component_manager", None)
        at.switch_page(page).run()  # first visit: loads data, builds caches
        at.run()
        plain = statistics.median(timed(at) for _ in range(plains))
        times = []
        if change:
            kind, key, values = change
            try:
                widget = getattr(at, kind)(key=key)
            except KeyError:
                print(f"| {page} | {key} not found | - | {plain:.3f} | - |")
                continue
            for i in range(changes):
                widget.set_value(values[i % 2])
                times.append(timed(at))
                widget = getattr(at, kind)(key=key)
        t = statistics.median(times) if times else plain
        ok = "met" if t < 0.5 else "NOT met"
        print(f"| {page.split('/')[-1]} | {change[1] if change else '(none)'} | {t:.3f} | {plain:.3f} | {ok} |")
        if at.exception:
            print(f"  exception: {at.exception}")


if __name__ == "__main__":
    main()
