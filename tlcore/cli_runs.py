"""The run commands: train one run through the store (`run`, its flags derived from the config and
each strategy's declared settings), the store itself (`runs`), and the background `worker`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tlcore.cli_common import (
    add_workspace_args,
    open_store,
    print_out,
    run_grid,
    run_stored,
    workspace_of,
)


def _config_from_args(args: argparse.Namespace):
    from tlcore.config import RunConfig
    from tlcore.strategies import STRATEGIES, all_knobs
    from tlcore.strategies.knobs import apply_settings, parse_settings

    strategy = STRATEGIES.get(args.strategy)
    budget_given = args.labels_per_class is not None  # None: not on the command line
    labels = RunConfig.labels_per_class if not budget_given else (args.labels_per_class or None)
    own_flags = {k.field: getattr(args, k.field) for k in all_knobs().values() if k.field}  # --top-k, ...
    cfg = RunConfig(
        backbone=args.backbone, weights=args.weights, input_size=args.size, dataset=args.dataset,
        target=args.target, strategy=args.strategy, labels_per_class=labels,
        val_per_class=args.val_per_class, test_per_class=args.test_per_class,
        epochs=RunConfig.epochs if args.epochs is None else args.epochs,
        batch_size=args.batch_size, lr=args.lr, backbone_lr_mult=args.backbone_lr_mult,
        weight_decay=args.weight_decay, optimizer=args.optimizer, bn_policy=args.bn_policy,
        trainable_groups=tuple(args.trainable.split(",")) if args.trainable else None,
        augment=args.augment, seed=args.seed, device=args.device, **own_flags,
    )
    settings = parse_settings(args.set or ())
    cfg = apply_settings(cfg, settings, [strategy])
    strategy.check(cfg)
    return _checked(cfg, budget_given, "adapt_top" in settings)


def _checked(cfg, budget_given: bool, top_given: bool = False):
    """``cfg`` with the defaults for a user's own folders, said on stderr; a source -> target
    pair adaptation cannot run on is refused here, before anything is queued."""
    from tlcore.data.pairs import check_config
    from tlcore.folder_defaults import folder_defaults

    chosen = folder_defaults(cfg, budget_given=budget_given, top_given=top_given)
    check = check_config(chosen.cfg)
    check.raise_first()
    for line in (*chosen.said, *check.notes):
        print(line, file=sys.stderr)
    return chosen.cfg


def cmd_auto(args: argparse.Namespace) -> int:
    """``--strategy auto``: train the adaptation candidates on the pair, pick one by the
    label-free criterion the recorded study trusts, say which and why."""
    from tlcore.estimate import estimate_seconds
    from tlcore.transfer import criteria_study as cs

    # the shared settings as source-only's; each candidate then keeps its own
    cfg = _config_from_args(argparse.Namespace(**{**vars(args), "strategy": "source_only"}))
    if args.epochs is None:  # the protocol the trusted criterion was chosen on
        cfg = cfg.replace(epochs=cs.BASE.epochs)
        print(f"auto: each candidate trains {cfg.epochs} epochs, as in the criteria study that chose "
              "its criterion (--epochs to change).", file=sys.stderr)
    cfgs = cs.auto_configs(cfg)
    store = open_store(args)
    if not args.json and (todo := [c for c in cfgs if store.get(c.run_id(), history=False) is None]):
        minutes = sum(estimate_seconds(c).seconds for c in todo) / 60
        print(f"auto: {len(todo)} of {len(cfgs)} candidates to train, about {minutes:.0f} min on this "
              "machine (estimated).", file=sys.stderr)
    recs = run_grid(store, cfgs, args, lambda c: f"auto: {cs.label(c)}")
    choice = cs.auto_pick(recs)
    rec = choice.picked
    out = {"picked": {"run_id": rec.id, "label": cs.label(rec.config), "config": rec.config.to_dict(),
                      "metrics": {k: v for k, v in rec.metrics.items() if k.endswith(("accuracy", "loss"))}},
           "criterion": choice.criterion, "why": choice.why,
           "candidates": [{"run_id": r.id, "label": cs.label(r.config), "status": r.status,
                           "criteria": r.metrics.get("criteria")} for r in recs]}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"auto picked {out['picked']['label']} (run {rec.id}). {choice.why}")
        m = out["picked"]["metrics"]
        if "target_accuracy" in m:  # known only because this target happens to have labels
            print(f"  target accuracy {m['target_accuracy']:.4f} (the pick did not read it)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from tlcore.transfer.criteria_study import AUTO

    if args.strategy == AUTO:
        return cmd_auto(args)
    cfg = _config_from_args(args)
    rec, queued = run_stored(open_store(args), cfg, args.rerun, args.quiet, *workspace_of(args))
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


def _add_run_args(s: argparse.ArgumentParser) -> None:
    from tlcore.config import BN_POLICIES, RunConfig
    from tlcore.optim import OPTIMIZERS
    from tlcore.strategies import STRATEGIES, all_knobs
    from tlcore.strategies.knobs import settings_help

    d = RunConfig()
    s.add_argument("--backbone", default=d.backbone, help="registered backbone (tlcore list backbones)")
    s.add_argument("--weights", default=None, help="weights name; default the backbone's pretrained; 'none' = random")
    s.add_argument("--size", type=int, default=None, help="input size in pixels (default: the backbone's)")
    s.add_argument("--dataset", default=d.dataset, help="source: name, name:shift=severity, or folder/zip path")
    s.add_argument("--target", default=None, help="optional target domain, same forms as --dataset")
    s.add_argument("--strategy", default=d.strategy,
                   help="tlcore strategies lists them; 'auto' (with --target) trains the adaptation "
                        "candidates and picks one by a label-free criterion")
    s.add_argument("--epochs", type=int, default=None,
                   help=f"default {d.epochs}; with --strategy auto, the criteria study's epochs")
    s.add_argument("--labels-per-class", type=int, default=None,
                   help=f"label budget k; 0 = all (default {d.labels_per_class}, or all when --dataset and "
                        "--target are both your own folders)")
    s.add_argument("--val-per-class", type=int, default=d.val_per_class)
    s.add_argument("--test-per-class", type=int, default=d.test_per_class)
    s.add_argument("--batch-size", type=int, default=d.batch_size)
    s.add_argument("--lr", type=float, default=d.lr, help="head learning rate")
    s.add_argument("--backbone-lr-mult", type=float, default=d.backbone_lr_mult,
                   help="backbone groups train at lr x this (discriminative learning rates)")
    s.add_argument("--weight-decay", type=float, default=d.weight_decay)
    s.add_argument("--optimizer", choices=list(OPTIMIZERS), default=d.optimizer,
                   help="; ".join(o.help for o in OPTIMIZERS.values()))
    s.add_argument("--bn-policy", choices=list(BN_POLICIES), default=d.bn_policy)
    s.add_argument("--trainable", default=None, help="custom strategy: comma-separated groups that train")
    s.add_argument("--augment", action="store_true", help="random 2-px shifts (disables the fast path)")
    s.add_argument("--seed", type=int, default=d.seed)
    s.add_argument("--device", default=d.device, help="cpu, cuda, mps or auto")
    for k in all_knobs().values():  # settings older than knobs keep a flag of their own (--top-k, ...)
        if k.field:
            s.add_argument(f"--{k.field.replace('_', '-')}", type=int if k.kind == "int" else float,
                           default=getattr(d, k.field), help=k.help)
    s.add_argument("--set", action="append", metavar="NAME=NUMBER",
                   help="strategy setting, repeatable. " + settings_help(STRATEGIES).replace("%", "%%"))


def cmd_runs(args: argparse.Namespace) -> int:
    from tlcore.workspaces import NotAllowed

    store = open_store(args)
    ws, admin = workspace_of(args)
    if args.action == "list":
        scope = None if args.all else ws
        recs = store.list(ws=scope, search=args.search, newest=True, limit=args.limit or None)
        rows = [{"run_id": r.id, "status": r.status, "strategy": r.config.strategy, "backbone": r.config.backbone,
                 "dataset": r.config.dataset, "target": r.config.target, "seed": r.config.seed,
                 "test_accuracy": r.metrics.get("test_accuracy"), "target_accuracy": r.metrics.get("target_accuracy"),
                 "progress": r.progress, "seconds": r.seconds, "queued_by": r.queued_by} for r in recs]
        lines = [f"{r['run_id']} {r['status']:11} {r['strategy']:18} {r['backbone']:16} {r['dataset']:>14}"
                 + (f" test {r['test_accuracy']:.3f}" if r["test_accuracy"] is not None else "") for r in rows]
        where = "on this server" if args.all else (f"in workspace {ws}" if ws else "common to every workspace") \
            + " (--all: every workspace's)"
        print_out(rows, args.json, lines or [f"(no runs {where})"])
        if args.limit and len(recs) == args.limit and (total := store.count(ws=scope, search=args.search)) > len(recs):
            print(f"tlcore runs: the newest {len(recs)} of {total}; --limit 0 lists all", file=sys.stderr)
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
    else:  # delete, cancel: only what this workspace may (tlcore.workspaces)
        refused = 0
        for i in args.ids:
            try:
                if args.action == "delete":
                    print(f"{i}: {store.remove(i, ws, admin)}")
                else:
                    store.cancel_as(i, ws, admin)
            except KeyError:
                print(f"{i}: not found")
            except NotAllowed as e:
                print(f"tlcore runs: {e}", file=sys.stderr)
                refused += 1
        return 2 if refused else 0
    return 0


def cmd_admin_key(args: argparse.Namespace) -> int:
    from tlcore.workspaces import make_admin_key

    store = open_store(args)
    if os.environ.get("TLAB_ADMIN_KEY", "").strip():
        print("(set by TLAB_ADMIN_KEY)", file=sys.stderr)
    print(make_admin_key(store.root))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from tlcore.jobs import worker_loop

    n = worker_loop(open_store(args), idle_exit=args.idle_exit, slot=args.slot)
    print(f"worker: executed {n} runs", file=sys.stderr)
    return 0


def add_parser(sub) -> None:
    """Add this module's commands to the ``tlcore`` parser."""
    s = sub.add_parser("run", help="train one run and store it (prints JSON with --json)")
    _add_run_args(s)
    s.add_argument("--store", default=None, help="store folder (default: the user data dir)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--rerun", action="store_true", help="discard a stored result for this config and train again")
    add_workspace_args(s)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("runs", help="list, show, export, cancel or delete stored runs")
    s.add_argument("action", choices=["list", "show", "export", "delete", "cancel"])
    s.add_argument("ids", nargs="*", help="run ids")
    s.add_argument("--store", default=None)
    s.add_argument("--json", action="store_true")
    s.add_argument("--format", choices=["csv", "json"], default="csv", help="export format")
    s.add_argument("--out", default=None, help="export to this file instead of stdout")
    s.add_argument("--all", action="store_true", help="list: every workspace's runs, not only this one's")
    s.add_argument("--search", default=None, help="list: runs whose id or settings hold every word of this")
    s.add_argument("--limit", type=int, default=100, help="list: at most this many, newest first (0: all)")
    add_workspace_args(s)
    s.set_defaults(func=cmd_runs)

    s = sub.add_parser("admin-key", help="print the server's admin key (made once, in the store folder)")
    s.add_argument("--store", default=None)
    s.set_defaults(func=cmd_admin_key)

    s = sub.add_parser("worker", help="execute queued runs from the store until idle")
    s.add_argument("--store", default=None)
    s.add_argument("--idle-exit", type=float, default=300.0, help="exit after this many idle seconds")
    s.add_argument("--slot", type=int, default=None,
                   help="worker slot to hold (default: the first free one of TLAB_WORKERS)")
    s.set_defaults(func=cmd_worker)
