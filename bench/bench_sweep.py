"""``tlcore sweep``'s engines: the same 8-trial sweep serially (the driver trains each trial
itself), with ``--concurrency N`` (N background workers, each on its share of the cores) and
with ``--engine ray`` (a local Ray with N CPUs, when Ray is installed).

    python bench/bench_sweep.py                     # 8 lab-net trials, serial vs 2 workers (~2 min, 2 cores)
    python bench/bench_sweep.py --concurrency 4 --epochs 10

The sweep: lab_mnist on the digits, fine-tune the top k groups, 10 labels per class,
``--grid lr=0.03,0.01,0.003,0.001 --grid top_k=1,2``. Each pass runs it in a fresh store and a
fresh feature and dataset cache (so nothing is reused, and each pass decodes the data once)
through ``tlcore.sweep_local.run_local``, timed from the call to the last trial stored,
worker start-up included; one warm-up run first pays this process's imports. A third pass trains serially on one
thread: on a busy machine two threads per run can cost more than they give, and that row
says how much of the parallel gain is that alone. Printed: the wall times, the throughput
ratios (serial s / other s), whether the trials got identical test accuracy serially on one
thread and on the workers (one thread each: they must), and how far the serial pass on all
cores is from them (a run's float sums depend on its thread count: over many epochs that can
move a test accuracy by an image or two).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def one_pass(root: Path, spec, cfgs, concurrency: int) -> tuple[float, list[float]]:
    from tlcore.runs import Store
    from tlcore.sweep_local import run_local

    # a fresh feature cache per pass (the workers inherit it): the frozen groups' outputs one
    # pass computed must not make the next one look faster
    os.environ["TLAB_CACHE_DIR"] = str(root / "cache")
    t0 = time.perf_counter()
    out = run_local(Store(root), spec, cfgs, concurrency=concurrency)
    wall = time.perf_counter() - t0
    bad = [(o.cfg.run_id(), o.record.status, o.record.message) for o in out if o.record.status != "done"]
    if bad:
        raise RuntimeError(f"trials did not finish: {bad}")
    while any(root.glob("worker*.pid")):
        time.sleep(0.2)  # the workers leave when idle: the next pass starts on idle cores
    return wall, [o.record.metrics["test_accuracy"] for o in out]


def ray_pass(root: Path, spec, cfgs, concurrency: int) -> tuple[float, float, list[float]] | None:
    """Ray's start-up (``ray.init``) and the sweep on it, timed apart; None without Ray."""
    try:
        import ray
    except ImportError:
        return None
    from tlcore.runs import Store
    from tlcore.sweep_ray import run_ray

    os.environ["TLAB_CACHE_DIR"] = str(root / "cache")  # Ray's workers inherit it
    t0 = time.perf_counter()
    ray.init(num_cpus=concurrency, include_dashboard=False, log_to_driver=False)
    start = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        out = run_ray(Store(root), spec, cfgs, concurrency=concurrency)
        wall = time.perf_counter() - t0
    finally:
        ray.shutdown()
    return start, wall, [o.record.metrics["test_accuracy"] for o in out]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--epochs", type=int, default=5)
    a = p.parse_args()
    import torch

    from tlcore.config import RunConfig
    from tlcore.jobs import execute
    from tlcore.runs import Store
    from tlcore.sweep import SweepSpec, parse_dim, plan
    from tlcore.workers import cores, thread_share

    base = RunConfig(backbone="lab_mnist", dataset="digits", strategy="finetune_top", labels_per_class=10,
                     val_per_class=5, test_per_class=20, epochs=a.epochs, batch_size=16)
    spec = SweepSpec(base, (parse_dim("lr=0.03,0.01,0.003,0.001"), parse_dim("top_k=1,2")))
    cfgs = plan(spec)
    with tempfile.TemporaryDirectory() as tmp:
        warm = Store(Path(tmp) / "warm")
        execute(warm, warm.submit(base.replace(epochs=1))[0])  # imports and weights read once
        serial_s, serial_acc = one_pass(Path(tmp) / "serial", spec, cfgs, 1)
        par_s, par_acc = one_pass(Path(tmp) / "parallel", spec, cfgs, a.concurrency)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # what one thread alone does: half of the parallel gain, or all?
        one_s, one_acc = one_pass(Path(tmp) / "serial1", spec, cfgs, 1)
        torch.set_num_threads(threads)
        on_ray = ray_pass(Path(tmp) / "ray", spec, cfgs, a.concurrency)
    same_threads = one_acc == par_acc  # one thread each: must be identical
    gap = max(abs(x - y) for x, y in zip(serial_acc, par_acc, strict=True))
    print(f"{len(cfgs)}-trial sweep (lab_mnist, fine-tune top, 10 labels/class, {a.epochs} epochs) on "
          f"{cores()} cores (load {os.getloadavg()[0]:.1f} at the end)")
    print("| engine | trials at once | threads each | wall s | throughput vs serial |")
    print("|---|---|---|---|---|")
    print(f"| serial (driver trains) | 1 | {threads} | {serial_s:.1f} | 1.00x |")
    print(f"| serial, one thread | 1 | 1 | {one_s:.1f} | {serial_s / one_s:.2f}x |")
    print(f"| local workers | {a.concurrency} | {thread_share(a.concurrency)} | {par_s:.1f} | "
          f"{serial_s / par_s:.2f}x |")
    if on_ray is None:
        print("| ray | - | - | - | Ray not installed (pip install -e '.[ray]') |")
    else:
        start, ray_s, ray_acc = on_ray
        same_threads = same_threads and ray_acc == par_acc
        print(f"| ray (local, {a.concurrency} CPUs) | {a.concurrency} | 1 | {ray_s:.1f} | {serial_s / ray_s:.2f}x |")
        print(f"| ray, its start-up included | {a.concurrency} | 1 | {start + ray_s:.1f} | "
              f"{serial_s / (start + ray_s):.2f}x |")
        print(f"Ray's fixed start-up (ray.init on this machine): {start:.1f} s")
    print(f"Identical test accuracy, serial on one thread vs the workers and Ray (one thread each): "
          f"{'yes' if same_threads else 'NO'}")
    print(f"Largest test-accuracy difference, serial on {threads} threads vs the workers: {gap * 100:.1f} points "
          f"({sum(x != y for x, y in zip(serial_acc, par_acc, strict=True))} of {len(cfgs)} trials differ: "
          "float sums depend on the thread count)")
    return 0 if same_threads else 1


if __name__ == "__main__":
    sys.exit(main())
