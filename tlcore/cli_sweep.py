"""``tlcore sweep``: a search over run settings (``tlcore.sweep``), trained through the store
on this machine (``tlcore.sweep_local``), ranked by a validation metric.

    tlcore sweep --dataset mnist --strategy finetune_top --grid lr=0.01,0.001 --grid top_k=1,2
    tlcore sweep --strategy dann --target mnist_m --random dann_weight=0.05:1:log --trials 6
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

from tlcore.cli_common import Bar, add_workspace_args, ints, open_store, workspace_of


def _spec(args: argparse.Namespace):
    from tlcore.cli_runs import _config_from_args
    from tlcore.sweep import SweepSpec, parse_dim
    from tlcore.transfer.criteria_study import AUTO

    if args.strategy == AUTO:
        raise ValueError("a sweep trains named strategies; give --strategy one of `tlcore strategies` "
                         "(or sweep it: --grid strategy=dann,coral)")
    if args.space:
        _merge_space(args)
    if args.random and args.search == "grid":
        args.search = "random"  # a range can only be drawn from (or, asked for, by TPE)
    if args.search == "tpe":
        from tlcore.sweep_tpe import _optuna

        _optuna()  # not installed: say how, before anything else
    dims = tuple(parse_dim(t) for t in (*(args.grid or ()), *(args.random or ())))
    seeds = tuple(ints(args.seeds, "seeds")) if args.seeds else (args.seed,)
    base = _config_from_args(args)
    return SweepSpec(base=base, dims=dims, search=args.search, trials=args.trials, seeds=seeds,
                     metric=args.metric, search_seed=args.search_seed)


def _merge_space(args: argparse.Namespace) -> None:
    """A space file's dimensions join the flags'; its search, trials, seeds and metric apply
    where the flag was left at its default."""
    from tlcore.sweep import read_space

    space = read_space(args.space)
    args.grid = [*(args.grid or ()), *space.get("grid", ())]
    args.random = [*(args.random or ()), *space.get("random", ())]
    for key, default in (("search", "grid"), ("trials", None), ("metric", "val_accuracy"), ("search_seed", 0)):
        if key in space and getattr(args, key) == default:
            setattr(args, key, space[key])
    if "seeds" in space and not args.seeds:
        seeds = space["seeds"]
        args.seeds = ",".join(str(x) for x in (seeds if isinstance(seeds, list) else [seeds]))


class _Index(dict):
    """Trial numbers for progress lines: the plan's order, or (TPE) the order started."""

    def __init__(self, cfgs) -> None:
        super().__init__((c.run_id(), i) for i, c in enumerate(cfgs))

    def __missing__(self, rid: str) -> int:
        self[rid] = len(self)
        return self[rid]


def _say(kind: str, out, spec, n: int, index: dict) -> None:
    from tlcore.sweep import describe

    i = index[out.cfg.run_id()]
    total = n or f"{spec.most_runs()} at most"
    head = f"[{i + 1}/{total}] {describe(out.cfg, spec.dims)} seed {out.cfg.seed}"
    if kind == "started":
        print(f"{head}: training", file=sys.stderr, flush=True)
    elif kind in ("ended", "reused"):
        from tlcore.sweep import metric

        rec = out.record
        score = metric(spec.metric).read(rec) if rec.status == "done" else None
        what = f"{spec.metric} {score:.4f}" if score is not None else (rec.message or rec.status)
        print(f"{head}: {'stored already' if kind == 'reused' else rec.status}, {what}"
              + (f" ({rec.seconds:.1f} s)" if rec.seconds and kind == "ended" else ""), file=sys.stderr, flush=True)
    elif kind == "skipped":
        print(f"{head}: skipped (time budget spent)", file=sys.stderr, flush=True)


def _table(trials: list[dict], metric_name: str, best_id: str | None) -> list[str]:
    from tlcore.sweep import ranked

    rows = ranked(trials, metric_name)
    lines = [f"{'':2}{'run':16}  {metric_name:>17}  {'test acc':>8}  {'status':11}  values"]
    for t in rows:
        mark = "* " if t["run_id"] == best_id else "  "
        score = f"{t['score']:.4f}" if t["score"] is not None else "-"
        test = t["metrics"].get("test_accuracy")
        lines.append(f"{mark}{t['run_id']:16}  {score:>17}  {f'{test:.4f}' if test is not None else '-':>8}  "
                     f"{t['status']:11}  {t['values']} seed {t['config']['seed']}")
    return lines


def _prepare(args: argparse.Namespace):
    """The spec, its fixed trials (none for TPE: its source asks them), the source and the
    early-stopping rule; every check runs here, before anything trains."""
    from tlcore.sweep import check_search, plan

    if args.engine != "ray" and (args.address or args.cpus_per_trial != 1):
        raise ValueError("--address and --cpus-per-trial are for --engine ray")
    if args.engine == "ray":
        from tlcore.sweep_ray import _ray

        _ray()  # not installed: say how, before planning anything
    spec = _spec(args)
    source, cfgs = None, []
    if spec.search == "tpe":
        from tlcore.sweep_tpe import TPESource

        check_search(spec)
        source = TPESource(spec)
    else:
        cfgs = plan(spec)
    stopper = None
    if args.early_stop == "median":
        from tlcore.sweep_stop import MedianStop

        stopper = MedianStop(spec.metric, warmup=max(1, spec.base.epochs // 3))
    return spec, cfgs, source, stopper


def _dry_run(args: argparse.Namespace, spec, cfgs, source, store) -> int:
    from tlcore.sweep import describe

    sid = spec.sweep_id()
    if source is not None:
        n = spec.most_runs()
        text = (f"sweep {sid}: TPE picks each of {spec.points()} points from the scores before it "
                f"({len(spec.seeds)} seed(s) each, up to {n} runs), ranked by {spec.metric}; the space is valid")
        print(json.dumps({"sweep_id": sid, "trials": None, "points": spec.points()}) if args.json else text)
        return 0
    rows = [{"trial": i, "run_id": c.run_id(), "values": describe(c, spec.dims), "seed": c.seed,
             "stored": (r := store.get(c.run_id(), history=False)) is not None and r.status == "done"}
            for i, c in enumerate(cfgs)]
    lines = [f"sweep {sid}: {len(cfgs)} trials ({spec.search}), ranked by {spec.metric}"] + [
        f"  {r['trial'] + 1:3d}. {r['run_id']}  {r['values']} seed {r['seed']}"
        + ("  (stored)" if r["stored"] else "") for r in rows]
    print(json.dumps({"sweep_id": sid, "trials": rows}, indent=2) if args.json else "\n".join(lines))
    return 0


def _train(args: argparse.Namespace, spec, cfgs, source, stopper, store):
    """The trials through the chosen engine; its outcomes."""
    from tlcore.sweep_local import run_local

    index = _Index(cfgs)
    if not args.json:
        at = "on Ray" + (f" at {args.address}" if args.address else " (this machine)") if args.engine == "ray" else \
            f"{args.concurrency or 1} at a time"
        print(f"sweep {spec.sweep_id()}: {len(cfgs) or 'TPE-chosen'} trials, {at}, ranked by {spec.metric}",
              file=sys.stderr)
    signal.signal(signal.SIGTERM, _interrupt)
    say = (lambda kind, out: None) if args.json else (lambda kind, out: _say(kind, out, spec, len(cfgs), index))
    if args.engine == "ray":
        from tlcore.sweep_ray import run_ray

        return run_ray(store, spec, cfgs, address=args.address, concurrency=args.concurrency,
                       cpus_per_trial=args.cpus_per_trial, time_budget=args.time_budget, on_event=say,
                       source=source, stopper=stopper, ws=workspace_of(args)[0])
    return run_local(store, spec, cfgs, concurrency=args.concurrency or 1, time_budget=args.time_budget,
                     on_event=say, on_progress=None if args.json or args.quiet else Bar(), source=source,
                     stopper=stopper, ws=workspace_of(args)[0])


def cmd_sweep(args: argparse.Namespace) -> int:
    from tlcore.sweep import best, trial_row

    spec, cfgs, source, stopper = _prepare(args)
    store = open_store(args)
    sid = spec.sweep_id()
    if args.dry_run:
        return _dry_run(args, spec, cfgs, source, store)
    try:
        outcomes = _train(args, spec, cfgs, source, stopper, store)
    except KeyboardInterrupt:
        print(f"\nsweep {sid} stopped: the trials in flight are cancelled; the same command resumes "
              "(finished trials are reused).", file=sys.stderr)
        return 130
    trials = [trial_row(i, o.cfg, o.record, spec, "skipped" if o.skipped else None)
              for i, o in enumerate(outcomes)]
    top = best([o.record for o in outcomes if o.record], spec.metric)
    out = {"sweep_id": sid, "metric": spec.metric, "trials": trials,
           "best": next((t for t in trials if top and t["run_id"] == top.id), None)}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print("\n".join(_table(trials, spec.metric, top.id if top else None)))
        if top:
            print(f"best: {out['best']['values']} (run {top.id}); its test accuracy is reported, "
                  f"not used to choose (the choice read {spec.metric} only)")
    return 0 if top else 1


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops a sweep as Ctrl-C does: cancel, record, exit


def add_parser(sub) -> None:
    from tlcore.cli_runs import _add_run_args
    from tlcore.sweep import METRICS, SEARCHES

    s = sub.add_parser("sweep", help="search over run settings (grid or random), trained through the store",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_run_args(s)
    add_workspace_args(s)
    s.add_argument("--grid", action="append", metavar="FIELD=V1,V2,...",
                   help="a dimension: a RunConfig field (lr, backbone_lr_mult, top_k, bn_policy, strategy, "
                        "backbone, labels_per_class, ...) or a strategy setting (dann_weight), with its "
                        "values; repeatable. The grid is every combination")
    s.add_argument("--random", action="append", metavar="FIELD=LOW:HIGH[:log]",
                   help="a numeric range drawn uniformly (log-uniformly with :log); implies --search random")
    s.add_argument("--space", default=None, metavar="FILE",
                   help="a JSON (or YAML) file: {\"grid\": {\"lr\": [0.01, 0.001]}, \"random\": {\"backbone_lr_mult\": "
                        "\"0.01:1:log\"}, \"search\", \"trials\", \"seeds\", \"metric\"}; joins the flags")
    s.add_argument("--search", choices=list(SEARCHES), default="grid",
                   help="grid: every combination; random: draws; tpe: Optuna's TPE picks each point from "
                        "the scores before it (the [search] extra)")
    s.add_argument("--trials", type=int, default=None,
                   help="random and tpe: how many points (default 8); grid: at most this many")
    s.add_argument("--seeds", default=None, help="comma-separated seeds, each point runs with each (default --seed)")
    s.add_argument("--search-seed", type=int, default=0, help="seed of the random search's draws")
    s.add_argument("--metric", default="val_accuracy",
                   help="what ranks trials: " + "; ".join(f"{m.name} ({m.help})" for m in METRICS)
                   + ". Never a test split's numbers")
    s.add_argument("--concurrency", type=int, default=None,
                   help="trials at a time. local: default 1 (this process trains them); above 1, that many "
                        "background workers share the cores. ray: default the cluster's CPUs / --cpus-per-trial")
    s.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="start no trial after this many seconds (those in flight finish)")
    s.add_argument("--early-stop", choices=["none", "median"], default="none",
                   help="median: stop a trial whose validation score at an epoch is below the median of the "
                        "trials before it at that epoch (Optuna's MedianPruner; after 3 trials and a third of the epochs); "
                        "it is stored as stopped, its curve kept")
    s.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="where trials train: this machine's workers (local), or Ray (an optional extra: "
                        "pip install -e '.[ray]'), on this machine or a cluster with --address")
    s.add_argument("--address", default=None,
                   help="ray: the cluster to join (HOST:PORT of `ray start --head`, auto, or ray://HOST:10001); "
                        "default a Ray on this machine only")
    s.add_argument("--cpus-per-trial", type=int, default=1, help="ray: CPUs (and torch threads) each trial takes")
    s.add_argument("--dry-run", action="store_true", help="print the trials, train nothing")
    s.add_argument("--store", default=None, help="store folder (default: the user data dir)")
    s.add_argument("--json", action="store_true", help="one JSON object: sweep_id, trials, best")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_sweep)
