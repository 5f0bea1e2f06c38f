"""Filling the meta-dataset: every candidate strategy on a grid of tasks, through the store.

The grid (``Plan``) crosses datasets, shifts of them, label budgets, backbones and seeds.
Each task's runs go through the store (``tlcore.cli_common.run_stored``, as ``advise
--check`` does), so a run already stored is read, not trained again; its row is appended to
the table file as soon as the task is done (written atomically), so an interrupted
collection resumes where it stopped and loses at most the task it was on.

Sized for a 2-core laptop: the lab zoo's 32 px backbones, few epochs, one seed. The tasks
are ordered budget by budget across every dataset, so a collection stopped early still
covers every dataset (leave-one-dataset-out needs them all).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tlcore.config import RunConfig
from tlcore.data.shifts import SHIFTS
from tlcore.transfer.meta import (
    STRATEGIES,
    load_table,
    make_row,
    merge_rows,
    save_table,
    task_key,
    task_signals,
)

LAB_BACKBONES = ("lab_mnist", "lab_fashion", "lab_synth_digits", "lab_fashion_a", "lab_fashion_b")
OWN_BACKBONE = {"mnist": "lab_mnist", "fashion_mnist": "lab_fashion", "synth_digits": "lab_synth_digits"}


@dataclass(frozen=True)
class Plan:
    """The grid of tasks. Each dataset appears clean and under ``len(severities)`` shifts,
    one shift kind per dataset taken round-robin from ``shifts`` (so every kind is seen, at
    a mild and a strong severity); each domain runs on ``backbones_per_domain`` backbones:
    its dataset's own pretraining backbone where the zoo has one (the "similar" cells of
    the classic rule need it), the rest round-robin
    from ``backbones`` (so each backbone appears on several datasets)."""

    datasets: tuple[str, ...] = ("mnist", "fashion_mnist", "digits", "synth_digits", "mnist_m", "animals")
    shifts: tuple[str, ...] = ("rotate", "invert", "noise", "blur", "contrast", "pixelate")
    severities: tuple[int, ...] = (2, 5)
    budgets: tuple[int, ...] = (1, 5, 20, 100)
    backbones: tuple[str, ...] = LAB_BACKBONES
    backbones_per_domain: int = 2
    seeds: tuple[int, ...] = (0,)
    strategies: tuple[str, ...] = STRATEGIES
    base: RunConfig = RunConfig(epochs=5, val_per_class=10, test_per_class=30)

    def domains(self) -> list[str]:
        out = []
        for i, d in enumerate(self.datasets):
            kind = self.shifts[i % len(self.shifts)]
            out += [d] + [f"{d}:{kind}={s}" for s in self.severities]
        return out

    def backbones_for(self, index: int, domain: str) -> list[str]:
        own = OWN_BACKBONE.get(domain.split(":", 1)[0])
        chosen = [own] if own in self.backbones else []
        j = index
        while len(chosen) < min(self.backbones_per_domain, len(self.backbones)):
            b = self.backbones[j % len(self.backbones)]
            if b not in chosen:
                chosen.append(b)
            j += 1
        return chosen

    def tasks(self) -> list[RunConfig]:
        """One config per task (strategy left at the base's), budget-major order."""
        for name in (s.split("=")[0] for d in self.domains() for s in d.split(":")[1:]):
            SHIFTS.get(name)  # a typo fails here
        pairs = [(d, b) for i, d in enumerate(self.domains()) for b in self.backbones_for(i, d)]
        return [self.base.replace(dataset=d, backbone=b, labels_per_class=k, seed=s)
                for k in self.budgets for s in self.seeds for d, b in pairs]


QUICK = Plan(datasets=("digits", "mnist"), severities=(3,), budgets=(2,), backbones=("lab_mnist",),
             backbones_per_domain=1, base=RunConfig(epochs=1, val_per_class=5, test_per_class=10))
# The ImageNet rows: the four offline ImageNet backbones on every clean dataset at 64 px (a
# task of five strategies at 20 labels per class takes ~40 s on 2 threads there; at 224 px
# and 100 labels per class the grid would take most of a day on a laptop), at three budgets.
IMAGENET_BACKBONES = ("mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
IMAGENET = Plan(severities=(), budgets=(1, 5, 20), backbones=IMAGENET_BACKBONES,
                backbones_per_domain=len(IMAGENET_BACKBONES),
                base=RunConfig(epochs=5, val_per_class=10, test_per_class=30, input_size=64))
PLANS = {"full": Plan(), "quick": QUICK, "imagenet": IMAGENET}


def with_provenance(table: dict, provenance: dict | None) -> dict:
    """``table`` with this collection's command, date and plan: at the top for the first
    collection (or the same command again), else added under ``more`` so the rows another
    command collected keep the command that reproduces them."""
    if not provenance:
        return table
    if not table.get("command") or table["command"] == provenance.get("command"):
        return {**table, **provenance}
    more = [m for m in table.get("more", []) if m.get("command") != provenance.get("command")]
    return {**table, "more": [*more, provenance]}


def collect(store, plan: Plan, path, provenance: dict | None = None,
            run: Callable | None = None, log: Callable[[str], None] = print) -> dict:
    """Run ``plan`` through ``store`` and keep the table at ``path`` up to date.

    A task whose row is already in the table is skipped without touching the store; the
    others run every strategy (``run(store, cfg)`` returns a finished record: by default
    ``run_stored``, which reuses stored runs) and the row is written before the next task
    starts. A task with a failed run is logged and left out (a later call retries it).
    Returns the table.
    """
    if run is None:
        from tlcore.cli_common import run_stored

        def run(st, cfg):
            return run_stored(st, cfg, quiet=True)[0]
    table = load_table(path)
    done = {r["key"] for r in table["rows"]}
    tasks = plan.tasks()
    t0 = time.perf_counter()
    for i, cfg in enumerate(tasks, 1):
        if task_key(cfg) in done:
            continue
        t = time.perf_counter()
        recs = {s: run(store, cfg.replace(strategy=s)) for s in plan.strategies}
        bad = [f"{s}: {r.status} {r.message}" for s, r in recs.items() if r.status != "done"]
        if bad:
            log(f"[{i}/{len(tasks)}] {cfg.dataset} / {cfg.backbone} / k={cfg.labels_per_class}: skipped ({'; '.join(bad)})")
            continue
        row = make_row(cfg, task_signals(cfg), {s: float(r.metrics["test_accuracy"]) for s, r in recs.items()},
                       {s: r.id for s, r in recs.items()}, "collect")
        table = merge_rows(with_provenance(table, provenance), [row])
        save_table(path, table)
        log(f"[{i}/{len(tasks)}] {cfg.dataset} / {cfg.backbone} / k={cfg.labels_per_class}: "
            f"{time.perf_counter() - t:.1f} s, {time.perf_counter() - t0:.0f} s in all")
    return table
