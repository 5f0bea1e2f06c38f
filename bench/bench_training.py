"""Training benchmark: the engine (``tlcore.train.run``) against a plain PyTorch loop.

    python bench/bench_training.py              # the full benchmark (~15-30 min on 2 cores)
    python bench/bench_training.py --quick      # smoke check: tiny data, one repeat (~20 s idle)
    python bench/bench_training.py --smoke      # the test's check: tinier still, one memory child
    python bench/bench_training.py --repeats 5 --threads 1

Both sides run in this one process on the same ``RunData`` and the same ``RunConfig``
numbers (batch size, epochs, Adam, learning rates, cosine schedule, weight decay, seed).
Repeats are interleaved (engine and baseline alternate order each repeat) and the table
shows medians; a ratio is the median of the per-repeat ratios, so slow drifts in other
load on the machine cancel within each pair. Peak memory is measured separately, one
child process per variant and side (``--child``), because allocator state left over
from earlier runs would blur a second measurement in the same process.

``--smoke`` (what ``tests/test_bench_smoke.py`` runs) only checks that every line is
measured and printed: 50 training images, 1 epoch, 1 repeat, and the peak memory of all
cells from one child process (``--child-all``, the peak counter reset before each cell) in
place of one per cell, because a child's imports (~8 s on 2 busy cores) were most of the
time of ``--quick``. Its numbers are not for reading: later cells reuse memory freed by
earlier ones, and the runs are too short for the ratios to mean much.

What each side does (the engine's extra work is counted against it):

* engine: ``run(cfg, data=data)`` from backbone build to the end: preprocessing, the
  frozen prefix (fast path), training, a validation pass per epoch, the final test
  metrics and the feature export. "cold": ``TLAB_CACHE_DIR`` points at a fresh empty
  folder, so the frozen features are computed (and written to disk); "warm": a second
  run reusing that folder's feature cache.
* plain: the loop a typical user writes (``plain_run``): the backbone's frozen
  parameters get ``requires_grad=False`` and their modules ``eval()``, a new head,
  Adam, and every batch of every epoch runs the whole network forward; a validation
  pass per epoch and a test pass at the end. Inputs are preprocessed once up front
  (kinder to the plain side than a per-batch transform pipeline).
* floor: one inference pass (eval, no_grad) of the backbone over the training images,
  preprocessing included, model build excluded, in batches of ``FLOOR_BATCH`` (64: near
  the fastest per image on a 2-core CPU at these sizes; 256 is 2-3x slower per image
  because the activations no longer fit in cache).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable as `python bench/bench_training.py` without installing
    sys.path.insert(0, str(ROOT))

from tlcore.config import RunConfig  # noqa: E402
from tlcore.models import build_backbone  # noqa: E402
from tlcore.rundata import RunData, prepare  # noqa: E402
from tlcore.train import run  # noqa: E402

LAB = "lab_synth_digits"  # pretrained on font digits, transferred to MNIST
IMAGENET = "mobilenet_v2"
FLOOR_BATCH = 64


@dataclass(frozen=True)
class Line:
    """One table line: the engine side against a baseline side.

    ``kind`` "faster": ratio = baseline s / engine s, met when >= ``bound``;
    ``kind`` "of": ratio = engine s / baseline s, met when <= ``bound``.
    ``bound`` None: an informational line without a target."""

    side: str  # "cold" or "warm" (the engine)
    base: str  # "plain" or "floor"
    kind: str
    bound: float | None


@dataclass(frozen=True)
class Variant:
    key: str
    title: str
    cfg: RunConfig
    lines: tuple[Line, ...]

    @property
    def sides(self) -> tuple[str, ...]:
        """Timing order within a repeat: baselines around the engine; warm right after cold."""
        used = {s for ln in self.lines for s in (ln.side, ln.base)}
        return tuple(s for s in ("floor", "cold", "warm", "plain") if s in used)


FE_LINES = (Line("cold", "plain", "faster", 5.0), Line("cold", "floor", "of", 1.3),
            Line("warm", "plain", "faster", None))


# size -> (labels per class, val and test per class, epochs)
SIZES = {"full": (200, 10, 10), "quick": (20, 10, 2), "smoke": (5, 5, 1)}


def variants(size: str = "full") -> list[Variant]:
    # full: 200 labels x 10 classes = 2,000 training images; small val/test keep evaluation minor
    labels, held_out, epochs = SIZES[size]
    base = RunConfig(dataset="mnist", labels_per_class=labels, val_per_class=held_out,
                     test_per_class=held_out, epochs=epochs, batch_size=16, lr=1e-2,
                     optimizer="adam", bn_policy="frozen", seed=0, device="cpu")
    lab = base.replace(backbone=LAB, input_size=32)
    return [
        Variant("fe_lab", f"feature extraction, {LAB} 32px",
                lab.replace(strategy="feature_extraction"), FE_LINES),
        Variant("fe_imagenet", f"feature extraction, {IMAGENET} ImageNet 64px",
                base.replace(backbone=IMAGENET, input_size=64, strategy="feature_extraction"),
                FE_LINES),
        Variant("top_lab", f"fine-tune top group (top_k=1), {LAB} 32px",
                lab.replace(strategy="finetune_top", top_k=1), (Line("cold", "plain", "faster", 2.0),)),
        Variant("all_lab", f"fine-tune all, {LAB} 32px",
                lab.replace(strategy="finetune_all"), (Line("cold", "plain", "of", 1.1),)),
    ]


# --------------------------------------------------------------------------- the sides


@torch.no_grad()
def _accuracy(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    net.eval()
    correct = sum(int((net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
                  for i in range(0, len(x), batch))
    return correct / max(1, len(y))


def plain_run(cfg: RunConfig, data: RunData) -> dict:
    """The hand-written loop: frozen parameters by ``requires_grad=False``, frozen modules
    in eval mode, the full network forward every batch. Returns the test accuracy."""
    torch.manual_seed(cfg.seed)
    bb = build_backbone(cfg.backbone, weights=cfg.weights, input_size=cfg.input_size)
    net = bb.net
    net.reset_head(data.num_classes, seed=cfg.seed)
    stages = list(net.stages.values())
    if cfg.strategy == "feature_extraction":
        trained = []
    elif cfg.strategy == "finetune_top":
        trained = stages[len(stages) - cfg.top_k:]
    elif cfg.strategy == "finetune_all":
        trained = stages
    else:
        raise ValueError(f"no plain loop for strategy {cfg.strategy}")
    frozen = [m for m in stages if all(m is not t for t in trained)]
    for p in net.parameters():
        p.requires_grad_(False)
    for m in [*trained, net.head]:
        for p in m.parameters():
            p.requires_grad_(True)

    src, s = data.source, data.splits
    x_train, y_train = bb.preprocess(src.images[s.train]), src.labels[s.train]
    x_val, y_val = bb.preprocess(src.images[s.val]), src.labels[s.val]
    x_test, y_test = bb.preprocess(src.images[s.test]), src.labels[s.test]

    groups = [{"params": list(net.head.parameters()), "lr": cfg.lr}]
    body = [p for m in trained for p in m.parameters()]
    if body:
        groups.append({"params": body, "lr": cfg.lr * cfg.backbone_lr_mult})
    opt = torch.optim.Adam(groups, weight_decay=cfg.weight_decay)
    n, bs = len(y_train), cfg.batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * ((n + bs - 1) // bs))
    gen = torch.Generator().manual_seed(cfg.seed)
    for _epoch in range(cfg.epochs):
        net.train()
        for m in frozen:
            m.eval()
        order = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        for i in range(0, n, bs):
            idx = order[i:i + bs]
            loss = F.cross_entropy(net(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
        _accuracy(net, x_val, y_val)  # the per-epoch validation pass, as the engine does
    return {"test_accuracy": _accuracy(net, x_test, y_test)}


def floor_prepare(cfg: RunConfig):
    """The floor's model, built outside the timer."""
    bb = build_backbone(cfg.backbone, weights=cfg.weights, input_size=cfg.input_size)
    bb.net.eval()
    return bb


@torch.no_grad()
def floor_run(bb, data: RunData, batch: int = FLOOR_BATCH) -> dict:
    """One inference pass of the backbone (all stages, no head) over the training images."""
    x = bb.preprocess(data.source.images[data.splits.train])
    n = 0
    for i in range(0, len(x), batch):
        n += len(bb.net.forward_features(x[i:i + batch]))
    return {"images": n}


def engine_run(cfg: RunConfig, data: RunData, cache: Path) -> dict:
    """``run`` with its disk caches under ``cache`` (empty: cold; already used: warm)."""
    old = os.environ.get("TLAB_CACHE_DIR")
    os.environ["TLAB_CACHE_DIR"] = str(cache)
    try:
        r = run(cfg, data=data)
    finally:
        if old is None:
            os.environ.pop("TLAB_CACHE_DIR", None)
        else:
            os.environ["TLAB_CACHE_DIR"] = old
    if r.status != "done":
        raise RuntimeError(f"engine run {cfg.strategy} ended {r.status}: {r.message}")
    return {"test_accuracy": r.metrics["test_accuracy"],
            "cut": max(h["fast_path_cut"] for h in r.history)}


def _timed(fn, *args) -> tuple[dict[str, float], dict]:
    """Wall and CPU seconds of ``fn(*args)``. CPU time (this process, all threads) is the
    steadier clock on a shared machine with one torch thread; wall time is what a user waits."""
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return {"wall": time.perf_counter() - w0, "cpu": time.process_time() - c0}, out


# --------------------------------------------------------------------------- memory


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _peak_of(v: Variant, side: str, data: RunData, cache: str | None) -> dict:
    """Run one side of one variant in this process and return its peak RSS above the RSS
    just before it (``/proc/self/status`` VmHWM after resetting it via clear_refs)."""
    gc.collect()
    try:  # "5" resets the peak-RSS counter to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    base = _status_kb("VmRSS")
    if side == "floor":
        floor_run(floor_prepare(v.cfg), data)
    elif side == "plain":
        plain_run(v.cfg, data)
    else:
        with tempfile.TemporaryDirectory(prefix="tlab-bench-") as tmp:
            engine_run(v.cfg, data, Path(cache or tmp))
    peak = _status_kb("VmHWM")
    return {"peak_mb": (peak - base) / 1024, "base_mb": base / 1024, "reset": reset}


def child_main(key: str, side: str, size: str, cache: str | None) -> None:
    """Run one side of one variant and print its peak RSS above the post-import,
    post-data baseline."""
    v = next(v for v in variants(size) if v.key == key)
    print(json.dumps(_peak_of(v, side, prepare(v.cfg), cache)))


def child_all_main(size: str) -> None:
    """``--smoke``: every cell of every variant in this one process, in timing order, one
    JSON line each; a variant's warm cell reads the cache its cold cell filled."""
    for v in variants(size):
        data = prepare(v.cfg)
        with tempfile.TemporaryDirectory(prefix="tlab-bench-") as tmp:
            for side in v.sides:
                m = _peak_of(v, side, data, tmp)  # cold fills tmp, warm reads it back
                print(json.dumps({"key": v.key, "side": side, **m}), flush=True)


def _child_cmd(args) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--threads", str(args.threads)]
    return cmd + ([f"--{args.size}"] if args.size != "full" else [])


def measure_memory(v: Variant, side: str, args, cache: Path | None) -> dict:
    cmd = _child_cmd(args) + ["--child", v.key, side]
    if cache is not None:
        cmd += ["--cache-dir", str(cache)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_memory_all(args) -> dict[tuple[str, str], dict]:
    """``--smoke``: every cell from one child process (``child_all_main``)."""
    out = subprocess.run(_child_cmd(args) + ["--child-all"], check=True, capture_output=True,
                         text=True, cwd=ROOT)
    cells = [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
    return {(m.pop("key"), m.pop("side")): m for m in cells}


# --------------------------------------------------------------------------- report

Times = dict[tuple[str, str], list[dict[str, float]]]  # (variant, side) -> per repeat


def line_ratio(ln: Line, engine: list[dict], base: list[dict], clock: str) -> float:
    """Median over repeats of the paired ratio (both sides of a pair ran back to back)."""
    pairs = [(e[clock], b[clock]) for e, b in zip(engine, base, strict=True)]
    return statistics.median(b / e if ln.kind == "faster" else e / b for e, b in pairs)


def _label(v: Variant, ln: Line) -> str:
    cache = {"warm": ", warm feature cache", "cold": ", cold cache"}[ln.side] if v.key.startswith("fe") else ""
    return v.title + cache + (" vs one inference pass (floor)" if ln.base == "floor" else " vs plain loop")


def _mb(m: dict | None) -> str:
    return "-" if m is None else f"{m['peak_mb']:.0f}"


def report(vs: list[Variant], times: Times, mem: dict, extra: dict, args, load: tuple) -> str:
    clock, other = args.clock, "cpu" if args.clock == "wall" else "wall"
    rows = ["| variant | engine s | plain s | ratio | target | met? | peak MB engine | peak MB plain |",
            "|---|---:|---:|---:|---|---|---:|---:|"]
    cross = []
    for v in vs:
        for ln in v.lines:
            e, b = times[(v.key, ln.side)], times[(v.key, ln.base)]
            r = line_ratio(ln, e, b, clock)
            if ln.bound is None:
                target, met = "(info)", "-"
            elif ln.kind == "faster":
                target, met = f">= {ln.bound:g}x faster", "yes" if r >= ln.bound else "NO"
            else:
                target, met = f"<= {ln.bound:g}x of {ln.base}", "yes" if r <= ln.bound else "NO"
            rows.append(f"| {_label(v, ln)} | {statistics.median(t[clock] for t in e):.2f} "
                        f"| {statistics.median(t[clock] for t in b):.2f} | {r:.2f}x | {target} | {met} "
                        f"| {_mb(mem.get((v.key, ln.side)))} | {_mb(mem.get((v.key, ln.base)))} |")
            cross.append(f"{line_ratio(ln, e, b, other):.2f}x")
    cfg, n = vs[0].cfg, extra["n"]
    reset_ok = all(m.get("reset") for m in mem.values())
    notes = [
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch thread(s); 1-min load average {load[0]:.2f} at start, "
        f"{load[1]:.2f} at end (above ~0 means other processes shared the CPU).",
        f"Data: {cfg.dataset}, {n['train']} training images, {n['val']} val, {n['test']} test; "
        f"{cfg.epochs} epochs, batch {cfg.batch_size}, Adam lr {cfg.lr:g} (backbone x{cfg.backbone_lr_mult:g}), "
        f"cosine schedule, weight decay {cfg.weight_decay:g}, seed {cfg.seed}, the same for both sides.",
        f"Clock: {clock} seconds, medians of {args.repeats} interleaved repeat(s); a ratio is the median "
        f"of the per-repeat paired ratios. The same ratios by {other} time, line by line: {', '.join(cross)}.",
        "Ratio: '... faster' lines give baseline s / engine s; '... of' lines give engine s / baseline s. "
        "On 'vs floor' lines the plain s column holds the floor (one inference pass of the backbone over "
        f"the {n['train']} training images in batches of {FLOOR_BATCH}, preprocessing included, model build "
        "not) and peak MB plain "
        "the floor's memory.",
        "Engine time: `tlcore.train.run(cfg, data=...)` whole: backbone build, preprocessing of every split, "
        "the frozen prefix (cold: computed and written to a fresh TLAB_CACHE_DIR; warm: read back from it), "
        "training, a validation pass per epoch, test metrics and the feature export. Plain loop: builds the "
        "same backbone, preprocesses once, full-network forward every batch, a validation pass per epoch "
        "and a test pass at the end.",
        ("Peak MB: " + ("one child process for all cells (--smoke: this script with `--child-all`, "
                        "cells in timing order; later cells reuse memory freed by earlier ones, so "
                        "these undercount): VmHWM from /proc/self/status at a cell's end minus VmRSS "
                        "before it" if args.size == "smoke" else
                        "one child process per cell (this script with `--child`): VmHWM from "
                        "/proc/self/status at its end minus VmRSS after imports and data loading")
         + (", the peak counter reset (/proc/self/clear_refs) at that point" if reset_ok else
            " (the peak counter could NOT be reset here, so peaks include import/data-loading peaks)")
         + "; the model build is inside the measured part.") if mem else
        "Peak MB: not measured (--no-memory, or no /proc/self/status on this system).",
        "",
        "Sanity (first repeat), test accuracy engine / plain and the engine's fast-path cut:",
    ]
    for v in vs:
        a = extra["acc"][v.key]
        notes.append(f"- {v.title}: {a['cold']:.3f} / {a['plain']:.3f}, frozen prefix cut at group "
                     f"{a['cut']} of {extra['groups'][v.key]}")
    return "\n".join(rows + notes)


# --------------------------------------------------------------------------- main


def time_all(vs: list[Variant], args, tmp_root: Path) -> tuple[Times, dict, dict[str, Path]]:
    datas = {v.key: prepare(v.cfg) for v in vs}  # before any TLAB_CACHE_DIR change
    sp = datas[vs[0].key].splits
    extra: dict = {"acc": {v.key: {} for v in vs}, "n": sp.sizes(),
                   "groups": {v.key: len(build_backbone(v.cfg.backbone).net.stages) for v in vs}}
    times: Times = {}
    warm_dirs: dict[str, Path] = {}
    for rep in range(args.repeats):
        for v in vs:
            data, cache = datas[v.key], tmp_root / f"{v.key}-{rep}"
            sides = list(v.sides)
            if rep % 2:  # odd repeats: baselines first, so neither side always runs first
                sides = [s for s in reversed(sides) if s not in ("cold", "warm")] + [
                    s for s in sides if s in ("cold", "warm")]
            for side in sides:
                if side == "floor":
                    bb = floor_prepare(v.cfg)
                    t, out = _timed(floor_run, bb, data)
                    del bb
                elif side == "plain":
                    t, out = _timed(plain_run, v.cfg, data)
                else:  # cold: a fresh cache folder; warm: the same folder again
                    t, out = _timed(engine_run, v.cfg, data, cache)
                times.setdefault((v.key, side), []).append(t)
                if rep == 0 and side in ("cold", "plain"):
                    extra["acc"][v.key][side] = out["test_accuracy"]
                    extra["acc"][v.key].setdefault("cut", out.get("cut"))
                print(f"  repeat {rep + 1}/{args.repeats} {v.key:12s} {side:5s} "
                      f"{t['wall']:8.2f} s wall {t['cpu']:8.2f} s cpu", file=sys.stderr, flush=True)
            warm_dirs[v.key] = cache
    return times, extra, warm_dirs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="200 images, 2 epochs, 1 repeat: a smoke check")
    size.add_argument("--smoke", action="store_true",
                      help="50 images, 1 epoch, 1 repeat, one memory child for all cells: the test's "
                           "check that every line prints (numbers not for reading)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="interleaved repeats (default 3; quick and smoke 1)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(),
                    help="torch threads for every side (default: torch's default); use 1 on a busy machine")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="which clock the table uses (the notes give the other clock's ratios)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    ap.add_argument("--child", nargs=2, metavar=("VARIANT", "SIDE"), help=argparse.SUPPRESS)
    ap.add_argument("--child-all", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cache-dir", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.size = "smoke" if args.smoke else "quick" if args.quick else "full"
    torch.set_num_threads(args.threads)
    if args.child:
        child_main(*args.child, size=args.size, cache=args.cache_dir)
        return 0
    if args.child_all:
        child_all_main(args.size)
        return 0
    args.repeats = args.repeats or (3 if args.size == "full" else 1)
    load0 = os.getloadavg()[0]
    if args.threads > 1 and load0 > 0.5:
        print(f"note: load average {load0:.1f} with {args.threads} torch threads; on a shared machine "
              "oversubscribed threads can slow small ops 10x and more: consider --threads 1",
              file=sys.stderr)
    vs = variants(args.size)
    mem: dict[tuple[str, str], dict] = {}
    with tempfile.TemporaryDirectory(prefix="tlab-bench-") as tmp:
        times, extra, warm_dirs = time_all(vs, args, Path(tmp))
        if not args.no_memory and Path("/proc/self/status").exists() and args.size == "smoke":
            mem = measure_memory_all(args)
            for (key, side), m in mem.items():
                print(f"  memory {key:12s} {side:5s} {m['peak_mb']:8.0f} MB", file=sys.stderr, flush=True)
        elif not args.no_memory and Path("/proc/self/status").exists():  # Linux only
            for v in vs:
                for side in v.sides:
                    m = measure_memory(v, side, args, warm_dirs[v.key] if side == "warm" else None)
                    mem[(v.key, side)] = m
                    print(f"  memory {v.key:12s} {side:5s} {m['peak_mb']:8.0f} MB", file=sys.stderr, flush=True)
    print(report(vs, times, mem, extra, args, (load0, os.getloadavg()[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
