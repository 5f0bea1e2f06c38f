"""Background workers: the same queued runs through 1 worker on every core, then through
``TLAB_WORKERS`` workers on their share each.

    python bench/bench_workers.py                 # 6 lab-net runs, 1 vs 2 workers (~2 min, 2 cores)
    python bench/bench_workers.py --workers 4 --runs 8 --backbone mobilenet_v2

Each pass queues the runs in a fresh store (so nothing is reused), starts the workers the
way the app does (``ensure_worker``), and times from the start to the last run done,
workers' start-up included. Printed: both wall times, the throughput ratio (baseline s /
pool s), and whether every run got the same test accuracy in both passes (it must: a run
is deterministic on CPU whatever its thread count, up to float summation order, so equal
to 3 decimals is checked). The default of ``TLAB_WORKERS`` (a quarter of the cores) rests
on this ratio; on 2 cores, run it before changing it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def one_pass(root: Path, cfgs, workers: int) -> tuple[float, list[float]]:
    from tlcore.runs import FINAL, Store
    from tlcore.workers import ENV, ensure_worker

    os.environ[ENV] = str(workers)
    store = Store(root)
    ids = [store.submit(c)[0] for c in cfgs]
    t0 = time.perf_counter()
    ensure_worker(store, idle_exit=5)
    while not all(store.get(i, history=False).status in FINAL for i in ids):
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    recs = [store.get(i, history=False) for i in ids]
    bad = [(r.id, r.status, r.message) for r in recs if r.status != "done"]
    if bad:
        raise RuntimeError(f"runs did not finish: {bad}")
    while any(root.glob("worker*.pid")):
        time.sleep(0.2)  # the workers leave after idle_exit: the next pass starts on idle cores
    return wall, [r.metrics["test_accuracy"] for r in recs]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--runs", type=int, default=6)
    p.add_argument("--backbone", default="lab_mnist")
    a = p.parse_args()
    from tlcore.config import RunConfig
    from tlcore.workers import cores, thread_share

    base = RunConfig(backbone=a.backbone, dataset="digits", strategy="finetune_all", labels_per_class=10,
                     val_per_class=5, test_per_class=20, epochs=5, batch_size=16)
    cfgs = [base.replace(seed=s) for s in range(a.runs)]
    with tempfile.TemporaryDirectory() as tmp:
        one_s, one_acc = one_pass(Path(tmp) / "one", cfgs, 1)
        pool_s, pool_acc = one_pass(Path(tmp) / "pool", cfgs, a.workers)
    same = all(round(x, 3) == round(y, 3) for x, y in zip(one_acc, pool_acc, strict=True))
    print(f"{a.runs} x {a.backbone} fine-tune-all runs on {cores()} cores (load {os.getloadavg()[0]:.1f} at the end)")
    print("| workers | threads each | wall s | throughput vs 1 worker |")
    print("|---|---|---|---|")
    print(f"| 1 | {thread_share(1)} | {one_s:.1f} | 1.00x |")
    print(f"| {a.workers} | {thread_share(a.workers)} | {pool_s:.1f} | {one_s / pool_s:.2f}x |")
    print(f"Same test accuracy in both passes (3 decimals): {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
