"""``tlcore``: the command line. Every command here is a contract later checks rely on.

    tlcore list datasets [--json]      registered datasets, available here or not, provenance
    tlcore list backbones [--json]     registered backbones and their weights
    tlcore show backbone NAME          layer groups with parameters and output shapes
    tlcore show dataset NAME           size, classes, counts, provenance
    tlcore pretrain NAME|all           (re)train lab-zoo models into assets/lab_zoo/
    tlcore setup                       seed offline weights and warm the dataset cache
    tlcore run --backbone B --dataset D [--target T] --strategy S ... [--json]
                                       train one run (stored; a stored result is reused)
    tlcore runs list|show|export|delete   the run store
    tlcore export RUN_ID --format onnx|torchscript --out DIR   a run's network + model card
    tlcore predict RUN_ID IMAGE... [--top 3] [--json]   a stored run answers image files
    tlcore worker                      background worker that executes queued runs
    tlcore strategies [--json]         registered strategies
    tlcore adapt [--seeds 0,1,2]       domain-adaptation study (default MNIST -> MNIST-M):
                                       source-only, DANN, CORAL, oracle; --record FILE
    tlcore advise --dataset D [--check]   size x similarity, backbone scores, advice;
                                       --check runs the candidates, Kendall's tau
    tlcore budget / tlcore yosinski    the label-budget sweep and the Yosinski lab
Strategy knobs: --set dann_weight=0.3, --set cut=2 --set frozen_copy=1 (transplant), ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def _print(obj: object, as_json: bool, lines: Sequence[str]) -> None:
    if as_json:
        print(json.dumps(obj, indent=2))
    else:
        print("\n".join(lines))


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "datasets":
        from tlcore.data import DATASETS

        rows = []
        for spec in DATASETS:
            avail = spec.check()
            rows.append({
                "name": spec.name, "title": spec.title, "available": avail.available,
                "reason": avail.reason, "source": spec.source, "licence": spec.licence,
                "num_classes": spec.num_classes, "shape": list(spec.shape),
            })
        lines = [f"{'yes' if r['available'] else 'NO ':4} {r['name']:18} {r['title']}  [{r['source']}]"
                 + ("" if r["available"] else f"\n     -> {r['reason']}") for r in rows]
    else:
        from tlcore.models import list_backbones

        rows = []
        for spec in list_backbones():
            weights = []
            for w in spec.weights.values():
                a = w.check()
                weights.append({"name": w.name, "title": w.title, "available": a.available,
                                "reason": a.reason, "source": w.source, "licence": w.licence})
            default = next(w for w in weights if w["name"] == spec.default_weights)
            rows.append({
                "name": spec.name, "family": spec.family, "title": spec.title,
                "available": default["available"], "reason": default["reason"],
                "source": default["source"], "default_weights": spec.default_weights,
                "default_size": spec.default_size, "native_size": spec.native_size,
                "weights": weights,
            })
        lines = [f"{'yes' if r['available'] else 'NO ':4} {r['name']:20} {r['default_weights']:16} {r['source']}"
                 + ("" if r["available"] else f"\n     -> {r['reason']}") for r in rows]
    _print(rows, args.json, lines)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    if args.what == "backbone":
        from tlcore.models import build_backbone

        bb = build_backbone(args.name, weights=args.weights, input_size=args.size)
        groups = bb.groups()
        obj = {"name": args.name, "weights": bb.weights.name, "provenance": bb.provenance.to_dict(),
               "preprocess": bb.preprocess.to_dict(), "groups": [g.to_dict() for g in groups]}
        lines = [f"{args.name} / {bb.weights.name}: {bb.provenance.text()}",
                 f"input {bb.preprocess.channels}x{bb.preprocess.size}x{bb.preprocess.size}"]
        lines += [f"  {g.name:10} {g.params:>10,} params  -> {list(g.output_shape)}" for g in groups]
    else:
        from tlcore.data import load_domain

        ds = load_domain(args.name)
        obj = {"name": ds.name, "size": len(ds), "shape": list(ds.images.shape[1:]),
               "classes": list(ds.class_names), "class_counts": ds.class_counts(),
               "provenance": ds.provenance.to_dict()}
        lines = [f"{ds.name}: {len(ds)} images {list(ds.images.shape[1:])}",
                 f"provenance: {ds.provenance.text()}"]
        lines += [f"  {c:14} {n}" for c, n in zip(ds.class_names, ds.class_counts(), strict=True)]
    _print(obj, args.json, lines)
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from tlcore.models.lab import LAB_SOURCES
    from tlcore.models.pretrain import pretrain

    names = list(LAB_SOURCES) if args.name == "all" else [args.name]
    for name in names:
        if name not in LAB_SOURCES:
            print(f"unknown lab model {name!r}; choose from {', '.join(LAB_SOURCES)} or all", file=sys.stderr)
            return 2
        card = pretrain(name, seed=args.seed, epochs=args.epochs,
                        progress=lambda m: print(m, file=sys.stderr, flush=True))
        print(json.dumps({k: card[k] for k in ("name", "dataset", "test_accuracy", "sha256")}))
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    """Make the offline path ready: weights into the torch hub cache, datasets decoded."""
    from tlcore.data import DATASETS, load_dataset
    from tlcore.models import weight_files

    ok = True
    for path, digest in weight_files.seed_offline():
        print(f"weights  {path} sha256 {digest[:16]}...")
    if args.warm:
        for spec in DATASETS:
            avail = spec.check()
            if not avail.available:
                ok = False
                print(f"dataset  {spec.name}: MISSING - {avail.reason}")
                continue
            ds = load_dataset(spec.name)
            print(f"dataset  {spec.name}: {len(ds)} images cached")
    return 0 if ok else 1


def _store(args: argparse.Namespace):
    from tlcore.runs import Store

    return Store(args.store)


def _config_from_args(args: argparse.Namespace):
    from tlcore.config import RunConfig

    return RunConfig(
        backbone=args.backbone, weights=args.weights, input_size=args.size, dataset=args.dataset,
        target=args.target, strategy=args.strategy, labels_per_class=args.labels_per_class or None,
        val_per_class=args.val_per_class, test_per_class=args.test_per_class, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, backbone_lr_mult=args.backbone_lr_mult,
        weight_decay=args.weight_decay, optimizer=args.optimizer, bn_policy=args.bn_policy,
        top_k=args.top_k, trainable_groups=tuple(args.trainable.split(",")) if args.trainable else None,
        probe_epochs=args.probe_epochs, augment=args.augment, seed=args.seed, device=args.device,
        extra=_parse_extra(args.set or ()),
    )


class _Bar:
    """A one-line progress bar on stderr."""

    def __init__(self) -> None:
        self.last = -1

    def __call__(self, frac: float, msg: str) -> None:
        pct = int(frac * 100)
        if pct != self.last:
            self.last = pct
            bar = "#" * (pct // 4) + "-" * (25 - pct // 4)
            print(f"\r[{bar}] {pct:3d}% {msg}", end="", file=sys.stderr, flush=True)
            if pct >= 100:
                print(file=sys.stderr)


def _run_stored(store, cfg, rerun: bool = False, quiet: bool = False):
    """Train ``cfg`` through the store (or reuse its stored result) and return the record."""
    from tlcore.jobs import execute

    rid, queued = store.submit(cfg, rerun=rerun)
    # A worker or an app session may take the queued run before we do (claim is atomic):
    # then, as for a run already running elsewhere, wait for its result.
    while (rec := store.get(rid, history=False)).status in ("queued", "running"):
        if rec.status == "queued" and store.claim(rid):
            execute(store, rid, on_progress=None if quiet else _Bar())
            break
        time.sleep(0.5)
        store.recover()  # the other process may have died
    return store.get(rid), queued


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _config_from_args(args)
    rec, queued = _run_stored(_store(args), cfg, args.rerun, args.quiet)
    rid = rec.id
    out = {"run_id": rid, "status": rec.status, "reused": not queued, "config": cfg.to_dict(),
           "metrics": {k: v for k, v in rec.metrics.items() if k.endswith(("accuracy", "loss"))},
           "seconds": rec.seconds, "message": rec.message,
           "data": rec.provenance.get("data", {}), "weights": rec.provenance.get("weights", {})}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        m = out["metrics"]
        print(f"run {rid}: {rec.status}" + (f" - {rec.message}" if rec.message else ""))
        if "test_accuracy" in m:
            print(f"  test accuracy {m['test_accuracy']:.4f}" + (
                f", target accuracy {m['target_accuracy']:.4f}" if "target_accuracy" in m else "")
                + f" in {rec.seconds:.1f} s")
        print(f"  weights: {out['weights'].get('source', '?')}")
        print(f"  data: {out['data'].get('source', {}).get('source', '?')}")
    return 0 if rec.status == "done" else 1


def cmd_adapt(args: argparse.Namespace) -> int:
    """A domain-adaptation study: every method x seed on one pair, then the summary table."""
    from tlcore.transfer import adapt_study as da

    base = da.DEFAULT
    changes = {k: v for k, v in (("backbone", args.backbone), ("dataset", args.dataset), ("target", args.target),
                                 ("epochs", args.epochs), ("labels_per_class", args.labels_per_class))
               if v is not None}
    if args.set:
        changes["extra"] = _parse_extra(args.set)
    base = base.replace(**changes)
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    store = _store(args)
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    recs = _run_grid(store, da.study_configs(base, methods, seeds), args, lambda c: c.strategy)
    rows = da.summarise(recs)
    wall = time.perf_counter() - t0
    if args.record:
        _record_study(args, base, rows, recs, wall, load_start)
    if args.json:
        print(json.dumps({"pair": [base.dataset, base.target], "config": base.to_dict(), "seeds": seeds,
                          "rows": [r.to_dict() for r in rows], "gain": da.gain(rows),
                          "verdict": da.verdict(rows), "wall_seconds": wall,
                          "run_ids": [r.id for r in recs]}, indent=2))
    else:
        print(f"{base.dataset} -> {base.target}, backbone {base.backbone}, "
              f"{base.labels_per_class} labels per class, {base.epochs} epochs, seeds {args.seeds}")
        print(da.markdown_table(rows))
        print(da.verdict(rows))
        print(f"published: {da.PUBLISHED_SOURCE}; wall time {wall:.0f} s (stored runs are reused)")
    return 0 if all(r.status == "done" for r in recs) else 1


def _record_study(args, base, rows, recs, wall: float, load_start: float) -> None:
    """Write the study as JSON for the page and README (``assets/results/adapt_*.json``)."""
    import os
    import platform
    import shlex
    from datetime import date

    from tlcore.transfer import adapt_study as da

    argv, kept, skip = sys.argv[2:], [], False
    for a in argv:  # the command that reproduces the numbers: where they are stored is not part of it
        if skip:
            skip = False
            continue
        flag = a.split("=", 1)[0]
        if flag in ("--store", "--record", "--title"):
            skip = "=" not in a
            continue
        if flag not in ("--quiet", "--rerun"):
            kept.append(a)
    out = {"title": args.title or f"{base.dataset} -> {base.target}", "date": date.today().isoformat(),
           "command": shlex.join(["python", "-m", "tlcore", "adapt", *kept]),
           "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}",
           "load_average_start": load_start, "load_average_end": os.getloadavg()[0],
           "wall_seconds": wall, "run_seconds": sum(r.seconds or 0.0 for r in recs),
           "config": base.to_dict(), "rows": [r.to_dict() for r in rows], "gain": da.gain(rows),
           "verdict": da.verdict(rows)}
    Path(args.record).write_text(json.dumps(out, indent=2) + "\n")


def _parse_extra(items: Sequence[str]) -> tuple[tuple[str, float], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        try:
            out.append((key.strip(), float(value)))
        except ValueError:
            raise ValueError(f"--set takes KEY=NUMBER (e.g. dann_weight=0.5), not {item!r}") from None
        if not sep or not key.strip():
            raise ValueError(f"--set takes KEY=NUMBER (e.g. dann_weight=0.5), not {item!r}")
    return tuple(sorted(out))


def cmd_runs(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.action == "list":
        recs = store.list()
        rows = [{"run_id": r.id, "status": r.status, "strategy": r.config.strategy, "backbone": r.config.backbone,
                 "dataset": r.config.dataset, "target": r.config.target, "seed": r.config.seed,
                 "test_accuracy": r.metrics.get("test_accuracy"), "target_accuracy": r.metrics.get("target_accuracy"),
                 "progress": r.progress, "seconds": r.seconds} for r in recs]
        lines = [f"{r['run_id']} {r['status']:11} {r['strategy']:18} {r['backbone']:16} {r['dataset']:>14}"
                 + (f" test {r['test_accuracy']:.3f}" if r["test_accuracy"] is not None else "") for r in rows]
        _print(rows, args.json, lines or ["(no runs)"])
        return 0
    if not args.ids:
        print("tlcore runs: give one or more run ids", file=sys.stderr)
        return 2
    if args.action == "show":
        recs = [store.get(i) for i in args.ids]
        missing = [i for i, r in zip(args.ids, recs, strict=True) if r is None]
        if missing:
            print(f"tlcore runs: no such run {', '.join(missing)}", file=sys.stderr)
            return 2
        print(json.dumps([r.to_dict() for r in recs], indent=2))
    elif args.action == "export":
        text = store.export_csv(args.ids) if args.format == "csv" else store.export_json(args.ids)
        if args.out:
            Path(args.out).write_text(text)
        else:
            print(text)
    elif args.action == "delete":
        for i in args.ids:
            print(f"{i}: {'deleted' if store.delete(i) else 'not found'}")
    elif args.action == "cancel":
        for i in args.ids:
            store.request_cancel(i)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from tlcore.jobs import worker_loop

    n = worker_loop(_store(args), idle_exit=args.idle_exit)
    print(f"worker: executed {n} runs", file=sys.stderr)
    return 0


def cmd_strategies(args: argparse.Namespace) -> int:
    from tlcore.strategies import STRATEGIES

    rows = [{"name": s.name, "title": s.title, "description": s.description, "pretrained": s.pretrained}
            for s in STRATEGIES]
    _print(rows, args.json, [f"{r['name']:18} {r['description']}" for r in rows])
    return 0


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--{what} takes comma-separated whole numbers (e.g. 0,1,2), not {text!r}") from None


def _run_grid(store, cfgs, args, describe) -> list:
    """Every config through the store (stored results reused), one status line each."""
    recs = []
    for i, cfg in enumerate(cfgs, 1):
        if not args.json:
            print(f"[{i}/{len(cfgs)}] {describe(cfg)}, seed {cfg.seed}", file=sys.stderr)
        rec, _ = _run_stored(store, cfg, args.rerun, args.quiet or args.json)
        if rec.status != "done":
            print(f"tlcore: {describe(cfg)} seed {cfg.seed} ended {rec.status}: {rec.message}", file=sys.stderr)
        recs.append(rec)
    return recs


def cmd_advise(args: argparse.Namespace) -> int:
    """Size x similarity, backbone scores and the advised strategy; with --check, run the
    candidates through the store and report predicted vs actual rankings (Kendall's tau)."""
    from tlcore.config import RunConfig
    from tlcore.transfer import advisor as adv

    cfg = RunConfig(backbone=args.backbone, dataset=args.dataset, labels_per_class=args.labels_per_class or None,
                    epochs=args.epochs, seed=0)
    from tlcore.models import BACKBONES

    backbones = (args.backbones.split(",") if args.backbones else
                 [b.name for b in BACKBONES if b.weights[b.default_weights].check().available])
    advice = adv.advise(cfg, backbones, primary=args.primary)
    out = {"advice": advice.to_dict()}
    lines = [advice.reason, "", "| rank | backbone | " + " | ".join(advice.backbone_scores[0].scores) + " | s |",
             "|---|---|" + "---|" * (len(advice.backbone_scores[0].scores) + 1)]
    for b in advice.backbone_scores:
        vals = " | ".join("-" if v is None else f"{v:.4f}" for v in b.scores.values())
        lines.append(f"| {b.rank or '-'} | {b.backbone} | {vals} | {b.seconds:.1f} |")
    if args.check:
        store = _store(args)
        seeds = [int(x) for x in args.seeds.split(",")]
        recs = [_run_stored(store, c, False, True)[0] for c in adv.candidate_configs(cfg, advice, seeds)]
        result = adv.check(advice, recs)
        out["check"] = result.to_dict()
        for rc in (result.strategies, result.backbones):
            if rc is None:
                continue
            lines += ["", f"{rc.axis}: predicted {' > '.join(rc.predicted)}",
                      f"{rc.axis}: actual    {' > '.join(f'{n} ({rc.accuracy[n]:.3f})' for n in rc.actual)}",
                      f"{rc.axis}: Kendall's tau {rc.tau:+.2f}"]
            lines += [f"  - {d.text()}" for d in rc.disagreements]
    _print(out, args.json, lines)
    return 0


def cmd_budget(args: argparse.Namespace) -> int:
    """Test accuracy against the label budget k for several strategies, over seeds."""
    from tlcore import experiments as ex

    changes = {k: v for k, v in (("dataset", args.dataset), ("backbone", args.backbone), ("epochs", args.epochs))
               if v is not None}
    base = ex.BUDGET_BASE.replace(**changes)
    ks, dropped, cap = ex.fit_ks(base, _ints(args.ks, "ks") if args.ks else ex.BUDGET_KS)
    if dropped:
        print(f"tlcore: {base.dataset} allows at most {cap} labels per class here; skipping k = "
              f"{', '.join(map(str, dropped))}", file=sys.stderr)
    if not ks:
        raise ValueError("no label budget left to run")
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()] if args.strategies else ex.CLASSIC
    seeds = _ints(args.seeds, "seeds")
    t0 = time.perf_counter()
    cfgs = ex.budget_configs(base, ks, strategies, seeds)
    recs = _run_grid(_store(args), cfgs, args, lambda c: f"{c.strategy}, k={c.labels_per_class}")
    summary = ex.budget_summary(recs)
    wall = time.perf_counter() - t0
    names = list(summary)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    cross = []
    for a, b in pairs:
        for lo, hi in ((a, b), (b, a)):
            k = ex.crossover(summary, lo, hi)
            if k is not None:
                cross.append({"behind": lo, "ahead": hi, "from_k": k})
    if args.json:
        print(json.dumps({"config": base.to_dict(), "ks": ks, "skipped_ks": dropped, "seeds": seeds,
                          "summary": summary, "crossovers": cross, "band": "lo/hi = min/max over seeds",
                          "wall_seconds": wall, "run_ids": [r.id for r in recs]}, indent=2))
    else:
        print(f"{base.backbone} -> {base.dataset}, {base.epochs} epochs, seeds {','.join(map(str, seeds))}: "
              "test accuracy, mean [min, max] over seeds")
        print(f"{'k/class':>8}  " + "  ".join(f"{s:<20}" for s in names))
        for k in ks:
            cells = []
            for s in names:
                c = summary[s]
                if k in c["k"]:
                    i = c["k"].index(k)
                    cells.append(f"{c['mean'][i]:.3f} [{c['lo'][i]:.3f}, {c['hi'][i]:.3f}]")
                else:
                    cells.append("-")
            print(f"{k:>8}  " + "  ".join(f"{cell:<20}" for cell in cells))
        for c in cross:
            print(f"{c['ahead']} stays above {c['behind']} from k={c['from_k']}")
        print(f"wall time {wall:.0f} s (stored runs are reused)")
    return 0 if all(r.status == "done" for r in recs) else 1


def cmd_yosinski(args: argparse.Namespace) -> int:
    """Yosinski et al. 2014 in miniature: AnB, AnB+, BnB, BnB+ against the cut n."""
    from tlcore import experiments as ex

    cuts = _ints(args.cuts, "cuts") if args.cuts else None
    seeds = _ints(args.seeds, "seeds")
    base = ex.YOSINSKI_BASE
    epochs = args.epochs or base.epochs
    k = args.labels_per_class or base.labels_per_class
    t0 = time.perf_counter()
    cfgs = ex.yosinski_configs(cuts, seeds, epochs=epochs, labels_per_class=k)
    recs = _run_grid(_store(args), cfgs, args, lambda c: "base (n=0)" if c.strategy == "scratch" else
                     "{} n={}".format(*ex.arm_of(c)))
    summary = ex.yosinski_summary(recs)
    wall = time.perf_counter() - t0
    verdict = ex.yosinski_verdict(summary)
    if args.json:
        print(json.dumps({"config": base.replace(epochs=epochs, labels_per_class=k).to_dict(), "seeds": seeds,
                          "summary": summary, "paper": ex.YOSINSKI_PAPER, "verdict": verdict, "wall_seconds": wall,
                          "run_ids": [r.id for r in recs]}, indent=2))
    else:
        arms = summary["arms"]
        total = summary["total"]
        print(f"Yosinski et al. 2014 in miniature: copy n of {total} groups into a net for {ex.YOSINSKI_TARGET}; "
              f"{k} labels/class, {epochs} epochs, seeds {','.join(map(str, seeds))}; test accuracy (mean)")
        print(f"{'n':>3} {'depth':>6}  " + "  ".join(f"{a:>6}" for a in arms))
        ns = sorted({n for c in arms.values() for n in c["n"]})
        for n in ns:
            cells = []
            for c in arms.values():
                cells.append(f"{c['mean'][c['n'].index(n)]:6.3f}" if n in c["n"] else f"{'-':>6}")
            print(f"{n:>3} {ex.depth_fraction(n, total):6.2f}  " + "  ".join(cells))
        print(ex.paper_text())
        print(verdict)
        print(f"wall time {wall:.0f} s (stored runs are reused)")
    return 0 if all(r.status == "done" for r in recs) else 1


def _add_run_args(s: argparse.ArgumentParser) -> None:
    from tlcore.config import BN_POLICIES, RunConfig

    d = RunConfig()
    s.add_argument("--backbone", default=d.backbone, help="registered backbone (tlcore list backbones)")
    s.add_argument("--weights", default=None, help="weights name; default the backbone's pretrained; 'none' = random")
    s.add_argument("--size", type=int, default=None, help="input size in pixels (default: the backbone's)")
    s.add_argument("--dataset", default=d.dataset, help="source: name, name:shift=severity, or folder/zip path")
    s.add_argument("--target", default=None, help="optional target domain, same forms as --dataset")
    s.add_argument("--strategy", default=d.strategy, help="tlcore strategies lists them")
    s.add_argument("--epochs", type=int, default=d.epochs)
    s.add_argument("--labels-per-class", type=int, default=d.labels_per_class, help="label budget k; 0 = all")
    s.add_argument("--val-per-class", type=int, default=d.val_per_class)
    s.add_argument("--test-per-class", type=int, default=d.test_per_class)
    s.add_argument("--batch-size", type=int, default=d.batch_size)
    s.add_argument("--lr", type=float, default=d.lr, help="head learning rate")
    s.add_argument("--backbone-lr-mult", type=float, default=d.backbone_lr_mult,
                   help="backbone groups train at lr x this (discriminative learning rates)")
    s.add_argument("--weight-decay", type=float, default=d.weight_decay)
    s.add_argument("--optimizer", choices=["adam", "sgd"], default=d.optimizer)
    s.add_argument("--bn-policy", choices=list(BN_POLICIES), default=d.bn_policy)
    s.add_argument("--top-k", type=int, default=d.top_k, help="finetune_top: groups below the head that train")
    s.add_argument("--trainable", default=None, help="custom strategy: comma-separated groups that train")
    s.add_argument("--probe-epochs", type=int, default=d.probe_epochs, help="lp_ft: head-only epochs first")
    s.add_argument("--augment", action="store_true", help="random 2-px shifts (disables the fast path)")
    s.add_argument("--seed", type=int, default=d.seed)
    s.add_argument("--device", default=d.device, help="cpu, cuda, mps or auto")
    s.add_argument("--set", action="append", metavar="KEY=NUMBER",
                   help="strategy knob, repeatable: dann_weight, disc_hidden, coral_weight, target_pool_max")


def _add_grid_args(s: argparse.ArgumentParser, json_help: str | None = None) -> None:
    """The options every command that trains a grid of runs through the store shares."""
    s.add_argument("--store", default=None, help="store folder (default: the user data dir)")
    s.add_argument("--json", action="store_true", help=json_help)
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.add_argument("--rerun", action="store_true", help="train again instead of reusing stored runs")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tlcore", description="Transfer Lab engine command line.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("list", help="list registered datasets or backbones and whether they are available here")
    s.add_argument("what", choices=["datasets", "backbones"])
    s.add_argument("--json", action="store_true", help="print JSON (one object per entry)")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("show", help="details of one backbone (layer groups) or dataset (classes, provenance)")
    s.add_argument("what", choices=["backbone", "dataset"])
    s.add_argument("name", help="registered name; for datasets also 'name:shift=severity' or a path")
    s.add_argument("--weights", default=None, help="backbone weights name (default: its pretrained weights; 'none' = random)")
    s.add_argument("--size", type=int, default=None, help="input size in pixels for output shapes")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("pretrain", help="train lab-zoo models on their source tasks; writes assets/lab_zoo/")
    s.add_argument("name", help="lab model name or 'all'")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--epochs", type=int, default=None, help="override the entry's epoch count")
    s.set_defaults(func=cmd_pretrain)

    s = sub.add_parser("run", help="train one run and store it (prints JSON with --json)")
    _add_run_args(s)
    s.add_argument("--store", default=None, help="store folder (default: the user data dir)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--rerun", action="store_true", help="discard a stored result for this config and train again")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("adapt", help="domain-adaptation study: source-only, DANN, CORAL and the target "
                                     "oracle over seeds on one pair (default MNIST -> MNIST-M)")
    s.add_argument("--seeds", default="0,1,2")
    s.add_argument("--methods", default="source_only,dann,coral,target_oracle")
    s.add_argument("--backbone", default=None)
    s.add_argument("--dataset", default=None, help="source domain (default mnist)")
    s.add_argument("--target", default=None, help="target domain (default mnist_m)")
    s.add_argument("--epochs", type=int, default=None)
    s.add_argument("--labels-per-class", type=int, default=None)
    s.add_argument("--set", action="append", metavar="KEY=NUMBER", help="strategy knob, repeatable")
    _add_grid_args(s)
    s.add_argument("--record", default=None, metavar="FILE",
                   help="also write the study as JSON (the app shows assets/results/adapt_*.json)")
    s.add_argument("--title", default=None, help="title for --record")
    s.set_defaults(func=cmd_adapt)

    s = sub.add_parser("advise", help="strategy advisor: size x similarity, backbone scores, the advised "
                                      "strategy; --check runs the candidates and reports Kendall's tau")
    s.add_argument("--dataset", default="mnist")
    s.add_argument("--backbone", default="lab_synth_digits", help="the backbone the similarity is measured in")
    s.add_argument("--backbones", default=None, help="comma-separated candidates (default: every available one)")
    s.add_argument("--labels-per-class", type=int, default=10)
    s.add_argument("--epochs", type=int, default=15)
    s.add_argument("--primary", default="logme", help="score that ranks backbones")
    s.add_argument("--check", action="store_true", help="run the candidate strategies and backbones")
    s.add_argument("--seeds", default="0")
    s.add_argument("--store", default=None)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_advise)

    s = sub.add_parser("budget", help="label-budget curves: test accuracy against labels per class k "
                                      "for several strategies over seeds, and where they cross")
    s.add_argument("--dataset", default=None, help="default fashion_mnist_b")
    s.add_argument("--backbone", default=None, help="default lab_fashion_a")
    s.add_argument("--ks", default=None, help="label budgets per class (default 1,5,10,25,50,100)")
    s.add_argument("--strategies", default=None, help="default scratch,feature_extraction,finetune_all")
    s.add_argument("--seeds", default="0,1,2")
    s.add_argument("--epochs", type=int, default=None, help="default 8")
    _add_grid_args(s, "print the summary as JSON")
    s.set_defaults(func=cmd_budget)

    s = sub.add_parser("yosinski", help="Yosinski et al. 2014 in miniature: copy n groups from a net "
                                        "trained on Fashion-MNIST A or B, frozen or fine-tuned, train on B")
    s.add_argument("--cuts", default=None, help="cuts n to run (default 0..number of body groups)")
    s.add_argument("--seeds", default="0")
    s.add_argument("--epochs", type=int, default=None, help="default 5")
    s.add_argument("--labels-per-class", type=int, default=None, help="default 100")
    _add_grid_args(s, "print the summary and the paper's numbers as JSON")
    s.set_defaults(func=cmd_yosinski)

    s = sub.add_parser("runs", help="list, show, export, cancel or delete stored runs")
    s.add_argument("action", choices=["list", "show", "export", "delete", "cancel"])
    s.add_argument("ids", nargs="*", help="run ids")
    s.add_argument("--store", default=None)
    s.add_argument("--json", action="store_true")
    s.add_argument("--format", choices=["csv", "json"], default="csv", help="export format")
    s.add_argument("--out", default=None, help="export to this file instead of stdout")
    s.set_defaults(func=cmd_runs)

    from tlcore.export import add_parser as add_export_parser  # a run as ONNX or TorchScript

    add_export_parser(sub)

    from tlcore.predict_cli import add_parser as add_predict_parser  # a run answers image files

    add_predict_parser(sub)

    s = sub.add_parser("worker", help="execute queued runs from the store until idle")
    s.add_argument("--store", default=None)
    s.add_argument("--idle-exit", type=float, default=300.0, help="exit after this many idle seconds")
    s.set_defaults(func=cmd_worker)

    s = sub.add_parser("strategies", help="list registered strategies")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_strategies)

    s = sub.add_parser("setup", help="seed offline weight files into the torch hub cache")
    s.add_argument("--warm", action="store_true", help="also decode and cache every dataset")
    s.set_defaults(func=cmd_setup)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from tlcore.data.base import DatasetUnavailable
    from tlcore.models.base import WeightsUnavailable
    from tlcore.runs import StoreUnavailable

    try:
        return args.func(args)
    except (DatasetUnavailable, WeightsUnavailable, StoreUnavailable, KeyError, ValueError) as e:
        print(f"tlcore: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
