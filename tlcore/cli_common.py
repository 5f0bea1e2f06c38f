"""What the command modules share: printing, the store, the progress bar, running a grid of
configs through the store."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence


def print_out(obj: object, as_json: bool, lines: Sequence[str]) -> None:
    if as_json:
        print(json.dumps(obj, indent=2))
    else:
        print("\n".join(lines))


def open_store(args: argparse.Namespace):
    from tlcore.runs import Store

    return Store(args.store)


class Bar:
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


def add_workspace_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--workspace", default=None, metavar="CODE",
                   help="the workspace that lists these runs and may stop or remove them (default: "
                        "TLAB_WORKSPACE, else none: runs common to every workspace); the app's sidebar "
                        "shows each session's")
    s.add_argument("--admin-key", default=None, metavar="KEY",
                   help="the server's admin key (`tlcore admin-key`): act on every workspace's runs")


def workspace_of(args: argparse.Namespace) -> tuple[str, bool]:
    """(workspace, admin?) from ``--workspace`` and ``--admin-key``; a wrong key is an error,
    not a silent demotion."""
    from tlcore.workspaces import cli_workspace, is_admin

    ws = cli_workspace(getattr(args, "workspace", None))
    key = getattr(args, "admin_key", None)
    if key and not is_admin(open_store(args).root, key):
        raise ValueError("--admin-key is not this store's admin key (`tlcore admin-key` on the server prints it)")
    return ws, bool(key)


def run_stored(store, cfg, rerun: bool = False, quiet: bool = False, ws: str = "", admin: bool = False):
    """Train ``cfg`` through the store (or reuse its stored result), listed in workspace
    ``ws``, and return the record."""
    from tlcore.jobs import execute

    rid, queued = store.submit(cfg, rerun=rerun, owner=f"cli-{os.getpid()}", ws=ws, admin=admin)
    # A worker or an app session may take the queued run before we do (claim is atomic):
    # then, as for a run already running elsewhere, wait for its result.
    while (rec := store.get(rid, history=False)).status in ("queued", "running"):
        if rec.status == "queued" and store.claim(rid):
            execute(store, rid, on_progress=None if quiet else Bar())
            break
        time.sleep(0.5)
        store.recover()  # the other process may have died
    return store.get(rid), queued


def ints(text: str, what: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--{what} takes comma-separated whole numbers (e.g. 0,1,2), not {text!r}") from None


def run_grid(store, cfgs, args, describe) -> list:
    """Every config through the store (stored results reused), one status line each."""
    recs = []
    ws, admin = workspace_of(args)
    for i, cfg in enumerate(cfgs, 1):
        if not args.json:
            print(f"[{i}/{len(cfgs)}] {describe(cfg)}, seed {cfg.seed}", file=sys.stderr)
        rec, _ = run_stored(store, cfg, args.rerun, args.quiet or args.json, ws, admin)
        if rec.status != "done":
            print(f"tlcore: {describe(cfg)} seed {cfg.seed} ended {rec.status}: {rec.message}", file=sys.stderr)
        recs.append(rec)
    return recs


def add_grid_args(s: argparse.ArgumentParser, json_help: str | None = None) -> None:
    """The options every command that trains a grid of runs through the store shares."""
    s.add_argument("--store", default=None, help="store folder (default: the user data dir)")
    s.add_argument("--json", action="store_true", help=json_help)
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.add_argument("--rerun", action="store_true", help="train again instead of reusing stored runs")
    add_workspace_args(s)

