"""Run-time estimate benchmark: what ``tlcore.estimate.estimate_seconds`` predicted against
the real run, per config (target: within 25%).

    python bench/bench_estimate.py               # 3 repeats per config (~4-6 min on 2 cores)
    python bench/bench_estimate.py --quick       # smoke check: lab nets only, 1 repeat (~30 s)
    python bench/bench_estimate.py --threads 1   # on a shared or busy machine

Each repeat runs the config through the worker's own path (``tlcore.jobs.execute`` on a
temporary store): the worker estimates the run just before it runs and stores that beside
the real ``seconds``, so the table reads back exactly what the Model page's track record
reads. The probe cache is cleared before every repeat, so each estimate is a fresh
measurement, as on a page that has not timed this setup yet; every repeat has another seed,
and ``TLAB_CACHE_DIR`` is a fresh folder, so no frozen features are read from disk (the
estimate assumes a cold feature cache). Configs are interleaved (all configs, then the next
repeat), so a burst of other work on the machine spreads over them.

Per config the table shows the medians over repeats of the estimate, the real seconds and
their ratio (estimated / actual: below 1, the estimate ran short), and the median absolute
error ``|estimated - actual| / actual``; the baseline is the real run in the same process.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable as `python bench/bench_estimate.py` without installing
    sys.path.insert(0, str(ROOT))

from tlcore.config import RunConfig  # noqa: E402
from tlcore.estimate import clear_probes, estimate_track_record  # noqa: E402
from tlcore.jobs import execute  # noqa: E402
from tlcore.rundata import prepare  # noqa: E402
from tlcore.runs import Store  # noqa: E402

TARGET = 0.25  # the aim: within 25% of the real time
LAB = RunConfig(backbone="lab_synth_digits", dataset="mnist", labels_per_class=20, val_per_class=10,
                test_per_class=50, epochs=5)
MNV2 = RunConfig(backbone="mobilenet_v2", input_size=64, dataset="mnist", labels_per_class=10,
                 val_per_class=5, test_per_class=20, epochs=3)
CONFIGS = {
    "lab_synth_digits 32px, scratch": LAB.replace(strategy="scratch"),
    "lab_synth_digits 32px, feature extraction": LAB.replace(strategy="feature_extraction"),
    "lab_synth_digits 32px, fine-tune top 1": LAB.replace(strategy="finetune_top", top_k=1),
    "lab_synth_digits 32px, fine-tune all": LAB.replace(strategy="finetune_all"),
    "lab_synth_digits 32px, feature extraction to mnist_m": LAB.replace(strategy="feature_extraction",
                                                                        target="mnist_m"),
    "lab_synth_digits 32px, DANN to mnist_m": LAB.replace(strategy="dann", target="mnist_m"),
    "mobilenet_v2 ImageNet 64px, feature extraction": MNV2.replace(strategy="feature_extraction"),
    "mobilenet_v2 ImageNet 64px, fine-tune all": MNV2.replace(strategy="finetune_all"),
}
QUICK = [k for k in CONFIGS if k.startswith("lab_") and "mnist_m" not in k]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="lab nets only, 1 repeat, 2 epochs: a smoke check")
    ap.add_argument("--repeats", type=int, default=None, help="runs per config (default 3; quick 1)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(),
                    help="torch intra-op threads (default: torch's own choice)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (1 if args.quick else 3)
    names = QUICK if args.quick else list(CONFIGS)
    configs = {n: CONFIGS[n].replace(epochs=2) if args.quick else CONFIGS[n] for n in names}
    load0 = os.getloadavg()[0]
    for cfg in configs.values():  # decode the datasets into memory before the cache dir moves
        prepare(cfg)
    results: dict[str, list[tuple[float, float]]] = {n: [] for n in configs}
    old = os.environ.get("TLAB_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="tlab-bench-estimate-") as tmp:
        os.environ["TLAB_CACHE_DIR"] = str(Path(tmp) / "cache")
        try:
            store = Store(Path(tmp) / "store")
            warm = store.submit(LAB.replace(epochs=1, seed=10_000))[0]  # imports, first allocations
            execute(store, warm)
            store.delete(warm)
            for r in range(repeats):
                for name, cfg in configs.items():
                    clear_probes()
                    rid = store.submit(cfg.replace(seed=r + 1))[0]
                    execute(store, rid, record_estimate=True)  # as the worker does
                    rec = store.get(rid, history=False)
                    if rec.status != "done" or "estimated_seconds" not in rec.metrics:
                        print(f"{name}: run {rid} ended {rec.status}: {rec.message}", file=sys.stderr)
                        return 1
                    results[name].append((rec.metrics["estimated_seconds"], rec.seconds))
            record = estimate_track_record(store.list("done"))
            probes = [rec.provenance["estimate"]["probe_seconds"] for rec in store.list("done")]
        finally:
            if old is None:
                os.environ.pop("TLAB_CACHE_DIR", None)
            else:
                os.environ["TLAB_CACHE_DIR"] = old
    print("| config | estimated s | actual s | ratio | error | target | met? |")
    print("|---|---|---|---|---|---|---|")
    for name, pairs in results.items():
        est = statistics.median(e for e, _ in pairs)
        act = statistics.median(a for _, a in pairs)
        ratio = statistics.median(e / a for e, a in pairs)
        err = statistics.median(abs(e - a) / a for e, a in pairs)
        print(f"| {name} | {est:.2f} | {act:.2f} | {ratio:.2f}x | {err:.0%} | <= {TARGET:.0%} | "
              f"{'yes' if err <= TARGET else 'NO'} |")
    print()
    print(f"Track record over all {record['count']} runs: median error {record['median_error']:.0%}, "
          f"worst {record['worst_error']:.0%}, median ratio {record['median_ratio']:.2f}x.")
    print(f"Probe: {statistics.median(probes):.2f} s median, {max(probes):.2f} s max per run "
          "(the worker's estimate before each run, probe cache cleared).")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch thread(s); 1-min load average {load0:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end (above ~0 means other processes shared the CPU).")
    print(f"Clock: wall seconds; {repeats} repeat(s) per config, interleaved; medians.")
    for name, pairs in results.items():
        print(f"- {name}: " + ", ".join(f"{e:.2f}/{a:.2f}" for e, a in pairs) + " (estimated/actual s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
