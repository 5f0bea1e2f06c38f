"""How well the learned advisor predicts on datasets it has not seen: leave one dataset out.

For each dataset (``meta.family``: a dataset with all its shifts and class subsets, every
budget and backbone), the advisor is fitted on the other datasets' rows only and predicts
the strategy order on each of the held-out dataset's tasks. The score of a task is Kendall's
tau-b between a predicted order and the strategies' real test accuracies; a dataset's score
is the mean over its tasks (a task where every strategy scored the same has no tau and is
left out of the mean).

Three predictors are scored on the same tasks and the same strategies (the four the classic
rule ranks; the learned advisor's tau over all five is reported too):

- ``learned``: the forest of ``tlcore.transfer.learned``;
- ``rule``: the classic size x similarity rule (``tlcore.transfer.rules``);
- ``mean_order``: one fixed order, the strategies by their mean accuracy on the training
  datasets. The learned advisor is only worth its signals if it beats this too.

Also per dataset: the *regret* (points of accuracy lost by running the predicted best
instead of the real best) and the share of real accuracies inside the learned band.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from tlcore.transfer.learned import fit, predict_many, rule_ranking
from tlcore.transfer.meta import STRATEGIES, complete_rows
from tlcore.transfer.rules import RULES, SIMILAR_BELOW
from tlcore.transfer.scores import kendall_tau

RULED = next(iter(RULES.values())).ranking  # the strategies the rule ranks
PREDICTORS = ("learned", "rule", "mean_order")


@dataclass(frozen=True)
class Fold:
    """The scores on one held-out dataset (means over its tasks)."""

    dataset: str
    tasks: int
    train_rows: int
    tau: dict[str, float]  # predictor -> mean tau over the rule's strategies
    tau_learned_all: float  # the learned advisor over every strategy
    regret: dict[str, float]  # predictor -> mean points lost by its first choice
    learned_beats_rule: int  # tasks where the learned tau is above the rule's
    rule_beats_learned: int
    coverage: float  # share of real accuracies inside the learned band
    per_task: tuple[dict, ...] = ()  # {"key", "labels_per_class", "similar", "backbone", "tau": {predictor: tau}}


@dataclass(frozen=True)
class Report:
    folds: tuple[Fold, ...]
    rows: int

    def mean(self, predictor: str) -> float:
        return float(np.nanmean([f.tau[predictor] for f in self.folds]))

    def by(self, field: str) -> dict:
        """Mean tau of each predictor over all held-out tasks, grouped by a task's ``field``
        ("labels_per_class", "similar" or "backbone"): where the rule goes wrong and the
        signals help."""
        groups: dict = {}
        for t in (t for f in self.folds for t in f.per_task):
            groups.setdefault(t[field], []).append(t["tau"])
        return {k: {"tasks": len(v), **{p: float(np.nanmean([t[p] for t in v])) for p in PREDICTORS}}
                for k, v in sorted(groups.items(), key=lambda kv: (isinstance(kv[0], str),
                                                                   kv[0] if isinstance(kv[0], str) else float(kv[0])))}

    def summary(self) -> str:
        wins = sum(f.tau["learned"] > f.tau["rule"] for f in self.folds)
        return (f"leave-one-dataset-out on {self.rows} tasks, {len(self.folds)} datasets: mean Kendall's tau "
                f"learned {self.mean('learned'):+.2f}, rule {self.mean('rule'):+.2f}, fixed mean order "
                f"{self.mean('mean_order'):+.2f}; the learned advisor beats the rule on {wins} of "
                f"{len(self.folds)} held-out datasets")

    def to_dict(self) -> dict:
        return {"rows": self.rows, "folds": [asdict(f) for f in self.folds],
                "mean": {p: self.mean(p) for p in PREDICTORS}}


def _tau(order_scores: dict[str, float], actual: dict[str, float], items: Sequence[str]) -> float:
    return kendall_tau([order_scores[s] for s in items], [actual[s] for s in items])


def _regret(order_scores: dict[str, float], actual: dict[str, float], items: Sequence[str]) -> float:
    first = max(items, key=lambda s: order_scores[s])
    return 100.0 * (max(actual[s] for s in items) - actual[first])


def _positions(order: Sequence[str]) -> dict[str, float]:
    return {s: -float(i) for i, s in enumerate(order)}


def _fold(name: str, train: list[dict], test: list[dict], seed: int) -> Fold:
    model = fit(train, STRATEGIES, seed)
    mean_acc = {s: float(np.mean([r["accuracy"][s] for r in train])) for s in STRATEGIES}
    preds = predict_many(model, [r["signals"] for r in test])
    taus: dict[str, list[float]] = {p: [] for p in PREDICTORS}
    regrets: dict[str, list[float]] = {p: [] for p in PREDICTORS}
    tau_all, inside, beats, beaten, per_task = [], [], 0, 0, []
    for row, pred in zip(test, preds, strict=True):
        actual = row["accuracy"]
        scores = {"learned": {p.strategy: p.accuracy for p in pred},
                  "rule": _positions(rule_ranking(row["signals"])), "mean_order": mean_acc}
        t = {p: _tau(scores[p], actual, RULED) for p in PREDICTORS}
        for p in PREDICTORS:
            taus[p].append(t[p])
            regrets[p].append(_regret(scores[p], actual, RULED))
        tau_all.append(_tau(scores["learned"], actual, STRATEGIES))
        a = row["signals"].get("a_distance")  # None: no proxy of the pretraining data (ImageNet)
        per_task.append({"key": row["key"], "labels_per_class": row["labels_per_class"],
                         "similar": "unknown" if a is None else a < SIMILAR_BELOW,
                         "backbone": "lab zoo" if row["backbone"].startswith("lab_") else "ImageNet", "tau": t})
        inside += [p.low <= actual[p.strategy] <= p.high for p in pred]
        if not (math.isnan(t["learned"]) or math.isnan(t["rule"])):
            beats += t["learned"] > t["rule"]
            beaten += t["rule"] > t["learned"]
    nanmean = lambda v: float(np.nanmean(v)) if not all(map(math.isnan, v)) else float("nan")  # noqa: E731
    return Fold(name, len(test), len(train), {p: nanmean(v) for p, v in taus.items()}, nanmean(tau_all),
                {p: float(np.mean(v)) for p, v in regrets.items()}, int(beats), int(beaten),
                float(np.mean(inside)), tuple(per_task))


def evaluate(rows: Sequence[dict], seed: int = 0, over_seeds: bool = False) -> Report:
    """Leave each dataset out in turn (``row["family"]``); the held-out rows never reach ``fit``.
    ``over_seeds``: each held-out task is scored once, against its accuracies averaged over
    the seeds it ran with (``mean_over_seeds``), a less noisy order than one run's; the
    advisor still learns from every run."""
    rows = complete_rows(rows)
    names = sorted({r["family"] for r in rows})
    if len(names) < 2:
        raise ValueError(f"leave-one-dataset-out needs rows of at least 2 datasets, got {names}")
    held = mean_over_seeds if over_seeds else list
    folds = tuple(_fold(n, [r for r in rows if r["family"] != n], held([r for r in rows if r["family"] == n]), seed)
                  for n in names)
    return Report(folds, sum(f.tasks for f in folds))


def _task(row: dict) -> tuple:
    """A row's task without its seed."""
    return row["dataset"], row["backbone"], row["labels_per_class"], row.get("epochs")


def mean_over_seeds(rows: Sequence[dict]) -> list[dict]:
    """One row per task: accuracies and signals averaged over its seeds (a signal missing in
    any seed's row is missing), the first seed's row otherwise."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(_task(r), []).append(r)
    out = []
    for g in groups.values():
        if len(g) == 1:
            out.append(g[0])
            continue
        signals = {k: (None if any(r["signals"].get(k) is None for r in g)
                       else float(np.mean([r["signals"][k] for r in g]))) for k in g[0]["signals"]}
        out.append({**g[0], "seed": [r["seed"] for r in g], "signals": signals,
                    "accuracy": {s: float(np.mean([r["accuracy"][s] for r in g])) for s in g[0]["accuracy"]}})
    return out


def markdown_table(report: Report) -> str:
    """The README's table: one line per held-out dataset, then the mean."""
    head = ("| held-out dataset | tasks | tau learned | tau rule | tau fixed order | learned > rule (tasks) "
            "| regret learned / rule (points) | in band |")
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for f in report.folds:
        lines.append(f"| `{f.dataset}` | {f.tasks} | {f.tau['learned']:+.2f} | {f.tau['rule']:+.2f} | "
                     f"{f.tau['mean_order']:+.2f} | {f.learned_beats_rule} vs {f.rule_beats_learned} | "
                     f"{f.regret['learned']:.1f} / {f.regret['rule']:.1f} | {f.coverage:.0%} |")
    regret = {p: float(np.mean([f.regret[p] for f in report.folds])) for p in ("learned", "rule")}
    lines.append(f"| **mean** | {report.rows} | **{report.mean('learned'):+.2f}** | **{report.mean('rule'):+.2f}** | "
                 f"{report.mean('mean_order'):+.2f} | | {regret['learned']:.1f} / {regret['rule']:.1f} | "
                 f"{np.mean([f.coverage for f in report.folds]):.0%} |")
    return "\n".join(lines)


def breakdown_lines(report: Report) -> list[str]:
    """Mean tau per label budget and per similarity call, over every held-out task."""
    out = []
    for field, name in (("labels_per_class", "labels per class"), ("similar", "similar to the pretraining data"),
                        ("backbone", "backbone pretrained on")):
        for k, v in report.by(field).items():
            out.append(f"{name} = {k} ({v['tasks']} tasks): tau learned {v['learned']:+.2f}, rule {v['rule']:+.2f}, "
                       f"fixed order {v['mean_order']:+.2f}")
    return out


def seed_agreement(rows: Sequence[dict]) -> dict | None:
    """How well one seed's strategy order predicts another seed's on the same task: Kendall's
    tau between the accuracies of every pair of seeds of a task (the rule's strategies, as
    the LODO table scores), averaged: how noisy one run's order is as an answer key. An
    advisor that predicts the expected order can score above it against single runs (it
    averages the noise away; measured: +0.67 per run against +0.64 here). None without a
    task run on two seeds."""
    by_task: dict[tuple, list[dict]] = {}
    for r in complete_rows(rows):
        by_task.setdefault(_task(r), []).append(r)
    taus = []
    for group in by_task.values():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                t = kendall_tau([a["accuracy"][s] for s in RULED], [b["accuracy"][s] for s in RULED])
                if not math.isnan(t):
                    taus.append(t)
    seeded = sum(len(g) > 1 for g in by_task.values())
    if not taus:
        return None
    return {"tasks": seeded, "pairs": len(taus), "tau": float(np.mean(taus)),
            "same_winner": float(np.mean([_same_winner(g) for g in by_task.values() if len(g) > 1]))}


def _same_winner(group: list[dict]) -> float:
    """The share of a task's seed pairs whose best strategy (of the rule's) is the same."""
    best = [max(RULED, key=lambda s: r["accuracy"][s]) for r in group]
    pairs = [(a, b) for i, a in enumerate(best) for b in best[i + 1:]]
    return float(np.mean([a == b for a, b in pairs]))
