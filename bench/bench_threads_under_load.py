"""One short run on all cores' threads vs on one thread, on an idle machine and with busy
processes beside it (what a shared class server or a laptop running other work looks like).

    python bench/bench_threads_under_load.py              # 0 and 2 busy processes, 3 repeats (~1 min)
    python bench/bench_threads_under_load.py --hogs 0 4 --repeats 5

The run: lab_mnist, fine-tune top, 10 labels per class, 5 epochs. Each repeat times the run
with ``torch.set_num_threads(cores)`` then with 1, back to back in this process, while
``--hogs`` Python busy-loops hold cores. Printed: the median seconds of each and the ratio
(all-cores s / one-thread s: above 1, the extra threads cost more than they give). This is
why the lab divides threads between workers (``tlcore.workers.thread_share``) and why a
busy server should run more workers of fewer threads, not fewer of more.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hogs", type=int, nargs="+", default=[0, 2], help="busy processes beside the run")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    import torch

    from tlcore.config import RunConfig
    from tlcore.train import run
    from tlcore.workers import cores

    base = RunConfig(backbone="lab_mnist", dataset="digits", strategy="finetune_top", labels_per_class=10,
                     val_per_class=5, test_per_class=20, epochs=5, batch_size=16)
    run(base.replace(epochs=1))  # imports, data and weights once
    n = cores()
    print(f"lab_mnist fine-tune-top run, 5 epochs, on {n} cores; median of {a.repeats}")
    print(f"| busy processes | {n} threads s | 1 thread s | ratio ({n} / 1) |")
    print("|---|---|---|---|")
    for k in a.hogs:
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(k)]
        try:
            times: dict[int, list[float]] = {n: [], 1: []}
            for rep in range(a.repeats):
                for t in (n, 1):
                    torch.set_num_threads(t)
                    t0 = time.perf_counter()
                    run(base.replace(lr=0.01 * (rep + 1)))
                    times[t].append(time.perf_counter() - t0)
        finally:
            for h in hogs:
                h.kill()
                h.wait()
        many, one = statistics.median(times[n]), statistics.median(times[1])
        print(f"| {k} | {many:.2f} | {one:.2f} | {many / one:.2f}x |")
    print(f"(load {os.getloadavg()[0]:.1f} at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
