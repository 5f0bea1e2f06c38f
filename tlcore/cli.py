"""``tlcore``: the command line. Every command here is a contract later checks rely on.

    tlcore list datasets [--json]      registered datasets, available here or not, provenance
    tlcore list backbones [--json]     registered backbones and their weights
    tlcore show backbone NAME          layer groups with parameters and output shapes
    tlcore show dataset NAME           size, classes, counts, provenance
    tlcore pretrain NAME|all           (re)train lab-zoo models into assets/lab_zoo/
    tlcore setup                       seed offline weights and warm the dataset cache
    tlcore run --backbone B --dataset D [--target T] --strategy S ... [--json]
                                       train one run (stored; a stored result is reused)
    tlcore runs list|show|export|cancel|delete   the run store
    tlcore export RUN_ID --format onnx|torchscript --out DIR   a run's network + model card
    tlcore predict RUN_ID IMAGE... [--top 3] [--json]   a stored run answers image files
    tlcore sweep ... --grid FIELD=V1,V2 [--random FIELD=LO:HI] [--concurrency N] [--json]
                                       a search over run settings, ranked by validation accuracy
    tlcore worker                      background worker that executes queued runs
    tlcore strategies [--json]         registered strategies
    tlcore adapt [--seeds 0,1,2]       domain-adaptation study (default MNIST -> MNIST-M):
                                       source-only, DANN, CORAL, oracle; --record FILE
    tlcore advise --dataset D [--check]   size x similarity, backbone scores, advice;
                                       --check runs the candidates, Kendall's tau
    tlcore budget / tlcore yosinski    the label-budget sweep and the Yosinski lab
Strategy settings: --set NAME=NUMBER, repeatable; `tlcore strategies` lists each strategy's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The parser; each command module adds its own commands (``add_parser``)."""
    from tlcore import cli_catalog, cli_runs, cli_studies, cli_sweep, export, predict_cli

    p = argparse.ArgumentParser(prog="tlcore", description="Transfer Lab engine command line.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (cli_catalog, cli_runs, cli_studies, cli_sweep, export, predict_cli):
        module.add_parser(sub)
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
