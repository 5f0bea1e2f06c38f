"""How long a page takes to rerun after a widget change (target: under 0.5 s).

Runs each page in Streamlit's AppTest (the real script, in this process), warms it once,
then changes one widget and times the rerun. AppTest adds its own overhead, so these
are upper bounds on what a browser session sees. The baseline is the same page's plain
rerun with no change, measured in the same process.

    python bench/bench_rerun.py
"""

from __future__ import annotations

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


def main() -> None:
    print("| page | widget changed | rerun s (median of 5) | plain rerun s | target < 0.5 s |")
    print("|---|---|---|---|---|")
    for page, change in CHANGES.items():
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.query_params.update(QUERY.get(page, {}))
        at.run()
        at.switch_page(page).run()  # first visit: loads data, builds caches
        at.run()
        plain = statistics.median(timed(at) for _ in range(3))
        times = []
        if change:
            kind, key, values = change
            try:
                widget = getattr(at, kind)(key=key)
            except KeyError:
                print(f"| {page} | {key} not found | - | {plain:.3f} | - |")
                continue
            for i in range(5):
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
