"""The study commands: grids of runs through the store with a summary beside the paper or rule they
check (`adapt`, `advise`, `budget`, `yosinski`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from tlcore.cli_common import (
    add_grid_args,
    ints,
    open_store,
    print_out,
    run_grid,
    run_stored,
    workspace_of,
)


def cmd_adapt(args: argparse.Namespace) -> int:
    """A domain-adaptation study: every method x seed on one pair, then the summary table."""
    from tlcore.transfer import adapt_study as da

    base = da.DEFAULT
    changes = {k: v for k, v in (("backbone", args.backbone), ("dataset", args.dataset), ("target", args.target),
                                 ("epochs", args.epochs), ("labels_per_class", args.labels_per_class))
               if v is not None}
    base = base.replace(**changes)
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",") if args.methods else list(da.METHODS)
    if args.set:  # each setting goes to the methods that have it (study_configs keeps it there)
        from tlcore.strategies import STRATEGIES
        from tlcore.strategies.knobs import apply_settings, parse_settings

        base = apply_settings(base.replace(extra=()), parse_settings(args.set),
                              [STRATEGIES.get(m) for m in methods])
    store = open_store(args)
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    recs = run_grid(store, da.study_configs(base, methods, seeds), args, lambda c: c.strategy)
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


def _reproduce(args, command: str, recs, wall: float, load_start: float) -> dict:
    """What a recorded study says about how it was made: the command that reproduces it
    (where it was stored is not part of it), date, machine, load, times."""
    import os
    import platform
    import shlex
    from datetime import date

    argv, kept, skip = sys.argv[2:], [], False
    for a in argv:
        if skip:
            skip = False
            continue
        flag = a.split("=", 1)[0]
        if flag in ("--store", "--record", "--title"):
            skip = "=" not in a
            continue
        if flag not in ("--quiet", "--rerun"):
            kept.append(a)
    return {"date": date.today().isoformat(), "command": shlex.join(["python", "-m", "tlcore", command, *kept]),
            "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}",
            "load_average_start": load_start, "load_average_end": os.getloadavg()[0],
            "wall_seconds": wall, "run_seconds": sum(r.seconds or 0.0 for r in recs)}


def _record_study(args, base, rows, recs, wall: float, load_start: float) -> None:
    """Write the study as JSON for the page and README (``assets/results/adapt_*.json``)."""
    from tlcore.transfer import adapt_study as da

    out = {"title": args.title or f"{base.dataset} -> {base.target}",
           **_reproduce(args, "adapt", recs, wall, load_start),
           "config": base.to_dict(), "rows": [r.to_dict() for r in rows], "gain": da.gain(rows),
           "verdict": da.verdict(rows)}
    Path(args.record).write_text(json.dumps(out, indent=2) + "\n")


def cmd_criteria(args: argparse.Namespace) -> int:
    """The label-free criteria study: every candidate on every pair, each criterion's ranking
    against true target accuracy (``tlcore.transfer.criteria_study``)."""
    from tlcore.transfer import criteria_study as cs

    pairs = cs.PAIRS if not args.pairs else [tuple(p.split(">", 1)) for p in args.pairs.split(",")]
    if any(len(p) != 2 for p in pairs):
        raise ValueError("--pairs takes SOURCE>TARGET,SOURCE>TARGET,... (e.g. mnist>mnist_m)")
    base = cs.BASE.replace(**{k: v for k, v in (("epochs", args.epochs), ("labels_per_class", args.labels_per_class))
                              if v is not None})
    if args.set:
        from tlcore.strategies import STRATEGIES
        from tlcore.strategies.knobs import apply_settings, parse_settings

        base = apply_settings(base, parse_settings(args.set), [STRATEGIES.get(n) for n, _ in cs.CANDIDATES])
    store = open_store(args)
    t0, load_start = time.perf_counter(), os.getloadavg()[0]
    recs = run_grid(store, cs.study_configs(base, pairs, args.seed), args,
                    lambda c: f"{c.dataset} -> {c.target}: {cs.label(c)}")
    wall = time.perf_counter() - t0
    results, overall = cs.summarise(recs)
    out = {"base": base.to_dict(), "pairs": [r.to_dict() for r in results], "overall": overall,
           "best": cs.best_criterion(overall) if overall else None}
    if args.record:
        Path(args.record).write_text(json.dumps({**_reproduce(args, "criteria", recs, wall, load_start), **out},
                                                indent=2) + "\n")
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for r in results:
            print(f"{r.source} -> {r.target}: best {r.best}; " + ", ".join(
                f"{c} tau {t:+.2f}" for c, t in r.tau.items()))
        print(cs.markdown_table(overall))
        print(f"best criterion: {out['best']}; wall time {wall:.0f} s (stored runs are reused)")
    return 0 if all(r.status == "done" for r in recs) else 1


def cmd_advise(args: argparse.Namespace) -> int:
    """Size x similarity, backbone scores and the advised strategy; with --check, run the
    candidates through the store and report predicted vs actual rankings (Kendall's tau)."""
    if args.collect or args.lodo:
        from tlcore import cli_learned

        return cli_learned.cmd_collect(args) if args.collect else cli_learned.cmd_lodo(args)
    from tlcore.config import RunConfig
    from tlcore.transfer import advisor as adv

    cfg = RunConfig(backbone=args.backbone, dataset=args.dataset, labels_per_class=args.labels_per_class or None,
                    epochs=args.epochs, seed=0)
    from tlcore.models import available_backbones

    backbones = args.backbones.split(",") if args.backbones else available_backbones()
    advice = adv.advise(cfg, backbones, primary=args.primary)
    out = {"advice": advice.to_dict()}
    lines = [advice.reason, "", "| rank | backbone | " + " | ".join(advice.backbone_scores[0].scores) + " | s |",
             "|---|---|" + "---|" * (len(advice.backbone_scores[0].scores) + 1)]
    for b in advice.backbone_scores:
        vals = " | ".join("-" if v is None else f"{v:.4f}" for v in b.scores.values())
        lines.append(f"| {b.rank or '-'} | {b.backbone} | {vals} | {b.seconds:.1f} |")
    if args.check:
        store = open_store(args)
        seeds = [int(x) for x in args.seeds.split(",")]
        recs = [run_stored(store, c, False, True, *workspace_of(args))[0] for c in adv.candidate_configs(cfg, advice, seeds)]
        result = adv.check(advice, recs)
        out["check"] = result.to_dict()
        for rc in (result.strategies, result.backbones):
            if rc is None:
                continue
            lines += ["", f"{rc.axis}: predicted {' > '.join(rc.predicted)}",
                      f"{rc.axis}: actual    {' > '.join(f'{n} ({rc.accuracy[n]:.3f})' for n in rc.actual)}",
                      f"{rc.axis}: Kendall's tau {rc.tau:+.2f}"]
            lines += [f"  - {d.text()}" for d in rc.disagreements]
    if args.learned:
        from tlcore.cli_learned import learned_lines

        out["learned"], more = learned_lines(cfg, advice, open_store(args).root)
        lines += more
    print_out(out, args.json, lines)
    return 0


def cmd_budget(args: argparse.Namespace) -> int:
    """Test accuracy against the label budget k for several strategies, over seeds."""
    from tlcore import experiments as ex

    changes = {k: v for k, v in (("dataset", args.dataset), ("backbone", args.backbone), ("epochs", args.epochs))
               if v is not None}
    base = ex.BUDGET_BASE.replace(**changes)
    ks, dropped, cap = ex.fit_ks(base, ints(args.ks, "ks") if args.ks else ex.BUDGET_KS)
    if dropped:
        print(f"tlcore: {base.dataset} allows at most {cap} labels per class here; skipping k = "
              f"{', '.join(map(str, dropped))}", file=sys.stderr)
    if not ks:
        raise ValueError("no label budget left to run")
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()] if args.strategies else ex.CLASSIC
    seeds = ints(args.seeds, "seeds")
    t0 = time.perf_counter()
    cfgs = ex.budget_configs(base, ks, strategies, seeds)
    recs = run_grid(open_store(args), cfgs, args, lambda c: f"{c.strategy}, k={c.labels_per_class}")
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

    cuts = ints(args.cuts, "cuts") if args.cuts else None
    seeds = ints(args.seeds, "seeds")
    base = ex.YOSINSKI_BASE
    epochs = args.epochs or base.epochs
    k = args.labels_per_class or base.labels_per_class
    t0 = time.perf_counter()
    cfgs = ex.yosinski_configs(cuts, seeds, epochs=epochs, labels_per_class=k)
    recs = run_grid(open_store(args), cfgs, args, lambda c: "base (n=0)" if c.strategy == "scratch" else
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


def _add_advise_parser(sub) -> None:
    from tlcore.cli_learned import add_learned_args

    s = sub.add_parser("advise", help="strategy advisor: size x similarity, backbone scores, the advised "
                                      "strategy; --check runs the candidates and reports Kendall's tau")
    s.add_argument("--dataset", default="mnist")
    s.add_argument("--backbone", default="lab_synth_digits", help="the backbone the similarity is measured in")
    s.add_argument("--backbones", default=None, help="comma-separated candidates (default: every available one)")
    s.add_argument("--labels-per-class", type=int, default=10)
    s.add_argument("--epochs", type=int, default=15)
    s.add_argument("--primary", default="logme", help="score that ranks backbones")
    s.add_argument("--check", action="store_true", help="run the candidate strategies and backbones")
    s.add_argument("--seeds", default="0", help="comma-separated seeds of --check's runs and of --collect's plan")
    s.add_argument("--store", default=None)
    s.add_argument("--json", action="store_true")
    add_learned_args(s)
    s.set_defaults(func=cmd_advise)


def add_parser(sub) -> None:
    """Add this module's commands to the ``tlcore`` parser."""
    s = sub.add_parser("adapt", help="domain-adaptation study: source-only, every adaptation method and the target "
                                     "oracle over seeds on one pair (default MNIST -> MNIST-M)")
    s.add_argument("--seeds", default="0,1,2")
    s.add_argument("--methods", default=None, help="comma-separated (default: every adaptation method)")
    s.add_argument("--backbone", default=None)
    s.add_argument("--dataset", default=None, help="source domain (default mnist)")
    s.add_argument("--target", default=None, help="target domain (default mnist_m)")
    s.add_argument("--epochs", type=int, default=None)
    s.add_argument("--labels-per-class", type=int, default=None)
    s.add_argument("--set", action="append", metavar="NAME=NUMBER",
                   help="setting of the methods that have it, repeatable (tlcore strategies lists them)")
    add_grid_args(s)
    s.add_argument("--record", default=None, metavar="FILE",
                   help="also write the study as JSON (the app shows assets/results/adapt_*.json)")
    s.add_argument("--title", default=None, help="title for --record")
    s.set_defaults(func=cmd_adapt)

    s = sub.add_parser("criteria", help="label-free validation study: how well each criterion (source "
                                        "accuracy, entropy, SND, DEV) ranks adaptation runs, on pairs with labels")
    s.add_argument("--pairs", default=None, help="SOURCE>TARGET,... (default: the study's nine pairs)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--epochs", type=int, default=None)
    s.add_argument("--labels-per-class", type=int, default=None)
    s.add_argument("--set", action="append", metavar="NAME=NUMBER",
                   help="a setting for every candidate that has it (e.g. adapt_top=2: the regime auto uses "
                        "on your own folders)")
    add_grid_args(s, "print the summary as JSON")
    s.add_argument("--record", default=None, metavar="FILE", help="also write the study as JSON")
    s.set_defaults(func=cmd_criteria)

    _add_advise_parser(sub)

    s = sub.add_parser("budget", help="label-budget curves: test accuracy against labels per class k "
                                      "for several strategies over seeds, and where they cross")
    s.add_argument("--dataset", default=None, help="default fashion_mnist_b")
    s.add_argument("--backbone", default=None, help="default lab_fashion_a")
    s.add_argument("--ks", default=None, help="label budgets per class (default 1,5,10,25,50,100)")
    s.add_argument("--strategies", default=None, help="default scratch,feature_extraction,finetune_all")
    s.add_argument("--seeds", default="0,1,2")
    s.add_argument("--epochs", type=int, default=None, help="default 8")
    add_grid_args(s, "print the summary as JSON")
    s.set_defaults(func=cmd_budget)

    s = sub.add_parser("yosinski", help="Yosinski et al. 2014 in miniature: copy n groups from a net "
                                        "trained on Fashion-MNIST A or B, frozen or fine-tuned, train on B")
    s.add_argument("--cuts", default=None, help="cuts n to run (default 0..number of body groups)")
    s.add_argument("--seeds", default="0")
    s.add_argument("--epochs", type=int, default=None, help="default 5")
    s.add_argument("--labels-per-class", type=int, default=None, help="default 100")
    add_grid_args(s, "print the summary and the paper's numbers as JSON")
    s.set_defaults(func=cmd_yosinski)
