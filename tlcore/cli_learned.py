"""``tlcore advise --collect / --lodo / --learned``: the meta-dataset of transfer outcomes and
the advisor learned from it (``tlcore.transfer.collect``, ``meta``, ``learned``, ``lodo``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import sys
import time
from datetime import date
from pathlib import Path


def cmd_collect(args: argparse.Namespace) -> int:
    """Run the collection plan through the store, appending each task's row to ``--out``
    (resumable: rows already there are skipped, stored runs are reused)."""
    import torch

    from tlcore.cli_common import ints, open_store
    from tlcore.transfer import collect as co
    from tlcore.transfer.meta import SHIPPED_TABLE

    torch.set_num_threads(args.threads)  # beside other work on 2 cores, one thread each wins
    plan = co.PLANS["quick" if args.quick else args.plan]
    # --seeds 1,2 runs more seeds of the same grid (a row's key is its config, seed included)
    plan = dataclasses.replace(plan, seeds=tuple(ints(args.seeds, "seeds")))
    out = Path(args.out or SHIPPED_TABLE)
    argv, skip = [], False
    for a in sys.argv[2:]:  # where the runs and the table were kept is not part of what reproduces them
        if not skip and a.split("=", 1)[0] not in ("--store", "--out"):
            argv.append(a)
        skip = a in ("--store", "--out")
    provenance = {"command": shlex.join(["python", "-m", "tlcore", "advise", *argv]),
                  "date": date.today().isoformat(),
                  "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, {args.threads} torch thread(s)",
                  "plan": {"tasks": len(plan.tasks()), "domains": plan.domains(), "budgets": list(plan.budgets),
                           "seeds": list(plan.seeds), "strategies": list(plan.strategies),
                           "backbones": list(plan.backbones), "base": plan.base.to_dict()}}
    t0 = time.perf_counter()
    table = co.collect(open_store(args), plan, out, provenance,
                       log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"{len(table['rows'])} rows in {out} ({time.perf_counter() - t0:.0f} s this call)")
    return 0


def cmd_lodo(args: argparse.Namespace) -> int:
    """Leave-one-dataset-out on a table: the learned advisor's tau beside the rule's."""
    from tlcore.transfer import lodo
    from tlcore.transfer.meta import SHIPPED_TABLE, load_table, save_table

    path = args.out or SHIPPED_TABLE
    table = load_table(path)
    report = lodo.evaluate(table["rows"])
    seeds = lodo.seed_agreement(table["rows"])
    # scored against the seeds' mean accuracies, where a task ran on several
    averaged = lodo.evaluate(table["rows"], over_seeds=True).to_dict() if seeds else None
    extra = {"seed_agreement": seeds, "over_seeds": averaged and {"rows": averaged["rows"], "mean": averaged["mean"]}}
    if args.record:  # the page's track record and the test that the README cannot drift read this
        save_table(path, {**table, "lodo": {**report.to_dict(), **extra,
                                            "command": "python -m tlcore advise --lodo",
                                            "date": date.today().isoformat()}})
    if args.json:
        print(json.dumps({**report.to_dict(), **extra}, indent=2))
    else:
        print(lodo.markdown_table(report))
        print(report.summary())
        print("\n".join(lodo.breakdown_lines(report)))
        if seeds:
            m = averaged["mean"]
            print(f"seed against seed on the same task ({seeds['tasks']} tasks, {seeds['pairs']} pairs of seeds): "
                  f"tau {seeds['tau']:+.2f}, the same best strategy in {seeds['same_winner']:.0%} of pairs: "
                  "how noisy one run's order is")
            print(f"scored against each task's mean over its seeds ({averaged['rows']} tasks): tau learned "
                  f"{m['learned']:+.2f}, rule {m['rule']:+.2f}, fixed order {m['mean_order']:+.2f}")
    return 0


def learned_lines(cfg, advice, store_root) -> tuple[dict, list[str]]:
    """``advise --learned``: the learned prediction on the advised backbone beside the rule,
    and the recorded leave-one-dataset-out track record of both."""
    from tlcore.transfer.learned_advice import learned_advice, shipped_table

    la = learned_advice(cfg, advice.backbone, store_root)
    lines = ["", f"learned advisor (random forest on {la.rows} tasks of {len(la.families)} datasets"
             f"{f', {la.user_rows} from this store' if la.user_rows else ''}; band: 10th-90th percentile of its trees):"]
    lines += [f"  {p.strategy:<20} {p.accuracy:.3f} [{p.low:.3f}, {p.high:.3f}]" for p in la.predictions]
    lines += [f"rule:    {' > '.join(la.rule)}", f"learned: {' > '.join(p.strategy for p in la.predictions)}"]
    if not la.seen_backbone:
        lines.append(f"(the learned advisor has never seen {la.config.backbone}: it extrapolates)")
    record = shipped_table().get("lodo")
    if record:
        m = record["mean"]
        lines.append(f"track record ({record['command']}): mean Kendall's tau on held-out datasets, learned "
                     f"{m['learned']:+.2f}, rule {m['rule']:+.2f}")
    return {**la.to_dict(), "lodo": record}, lines


def add_learned_args(s: argparse.ArgumentParser) -> None:
    """``advise``'s options for the meta-dataset and the learned advisor."""
    s.add_argument("--learned", action="store_true",
                   help="also the advisor learned from the meta-dataset: predicted accuracy of each strategy")
    s.add_argument("--collect", action="store_true",
                   help="fill the meta-dataset: every strategy on a grid of tasks through the store "
                        "(resumable; stored runs are reused)")
    s.add_argument("--quick", action="store_true", help="with --collect: a 2-task plan, for a smoke test")
    s.add_argument("--plan", choices=["full", "imagenet"], default="full",
                   help="with --collect: full (the lab backbones on every dataset, shift and budget) or "
                        "imagenet (the offline ImageNet backbones at 64 px on every clean dataset)")
    s.add_argument("--threads", type=int, default=1, help="with --collect: torch threads")
    s.add_argument("--lodo", action="store_true",
                   help="leave-one-dataset-out: the learned advisor's Kendall's tau beside the rule's")
    s.add_argument("--record", action="store_true",
                   help="with --lodo: write the result into the table file (the page and README show it)")
    s.add_argument("--out", default=None, metavar="FILE",
                   help="the meta-dataset table (default: the shipped assets/results/advisor_meta.json)")
