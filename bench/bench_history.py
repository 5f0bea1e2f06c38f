"""Does a page cost what it shows, or what is stored? Page reruns with 0, 10,000 and
100,000 runs in the store (targets: every page under 0.3 s at 100,000; ``tlcore runs
list`` under 1 s).

Each store is filled by one bulk SQL insert of finished runs (a mix of strategies, seeds
and backbones, three epochs each, every one listed in the session's workspace: the worst
case, a workspace holding the whole history). The runs are timing fixtures, not results:
they were never trained, and no page number here is read as one. Each page runs in
Streamlit's AppTest (the real script, in this process), is warmed once, and then its plain
rerun is timed (median of 3), as ``bench_rerun.py`` does; the 0-run store is the baseline
in the same process.

    python bench/bench_history.py            # 0, 10,000 and 100,000 runs
    python bench/bench_history.py --sizes 0,2000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TLAB_WARMUP", "0")

PAGES = ["home", "data", "model", "train", "compare", "try_it", "embeddings", "adapt", "advisor",
         "experiments", "lessons"]
WS = "bench"
TARGET_S = 0.3


def fill(root: Path, n: int) -> None:
    """``n`` finished runs, each listed in workspace ``WS``, in one transaction."""
    from tlcore.config import RunConfig
    from tlcore.runs import Store

    store = Store(root)
    if not n:
        return
    strategies = ("feature_extraction", "finetune_all", "scratch", "finetune_top")
    now = time.time() - n
    runs, lists, epochs = [], [], []
    for i in range(n):
        cfg = RunConfig(backbone=("lab_mnist", "lab_fashion")[i % 2], dataset="digits", labels_per_class=5,
                        strategy=strategies[i % 4], seed=i, epochs=3)
        rid = cfg.run_id()
        metrics = {"test_accuracy": 0.5 + (i % 50) / 100, "val_accuracy": 0.5}
        prov = {"model": {"bytes": 40_000}}
        runs.append((rid, json.dumps(cfg.to_dict()), "done", now + i, now + i, 1.0, "", json.dumps(metrics),
                     json.dumps(prov), 2.0, None, "", WS, WS))
        lists.append((WS, rid, now + i))
        epochs += [(rid, e, json.dumps({"epoch": e, "val_acc": 0.5, "train_loss": 1.0 / e})) for e in (1, 2, 3)]
    with store._conn() as c:
        c.execute("BEGIN")
        c.executemany("INSERT INTO runs (id, config, status, created, updated, progress, message, metrics, "
                      "provenance, seconds, pid, host, owner, ws) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", runs)
        c.executemany("INSERT INTO workspace_runs (ws, run_id, added) VALUES (?,?,?)", lists)
        c.executemany("INSERT INTO epochs (run_id, epoch, record) VALUES (?,?,?)", epochs)
        c.execute("COMMIT")


def page_times(root: Path) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    os.environ["TLAB_DATA_DIR"] = str(root)
    out = {}
    for page in PAGES:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.query_params["ws"] = WS
        at.run()
        at.switch_page(f"app_pages/{page}.py").run()  # first visit: data, caches
        times = []
        for _ in range(3):
            t = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t)
        if at.exception:
            print(f"  {page}: exception {at.exception[0].value}", file=sys.stderr)
        out[page] = statistics.median(times)
    return out


def cli_list_s(root: Path) -> float:
    from tlcore.cli import main

    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        main(["runs", "list", "--store", str(root), "--workspace", WS])
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="0,10000,100000", help="comma-separated store sizes")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for n in sizes:
        root = Path(tempfile.mkdtemp(prefix=f"tlab-history-{n}-"))
        t = time.perf_counter()
        fill(root, n)
        print(f"store of {n:,} runs filled in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        results[n] = {**page_times(root), "tlcore runs list": cli_list_s(root)}
    base = results[sizes[0]]
    print(f"| page | {' | '.join(f'{n:,} runs (s)' for n in sizes)} | x of {sizes[0]:,} at {sizes[-1]:,} "
          f"| target |")
    print("|---|" + "---|" * (len(sizes) + 2))
    for page in [*PAGES, "tlcore runs list"]:
        target = 1.0 if page == "tlcore runs list" else TARGET_S
        last = results[sizes[-1]][page]
        ok = "met" if last < target else "NOT met"
        print(f"| {page} | {' | '.join(f'{results[n][page]:.3f}' for n in sizes)} "
              f"| {last / max(base[page], 1e-6):.1f}x | {ok} (< {target} s) |")


if __name__ == "__main__":
    main()
