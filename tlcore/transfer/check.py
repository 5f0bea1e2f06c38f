"""Checking the advisor: the short runs that test a prediction, and how it fared.

:func:`candidate_configs` gives the runs (every predicted strategy on the advised backbone,
every ranked backbone with the advised strategy); :func:`check` compares the predicted
rankings with the finished runs: Kendall's tau and every pair the prediction got the wrong
way round, so the page can show where the classic rules (or the scores) were wrong.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tlcore.config import RunConfig
from tlcore.runs import RunRecord
from tlcore.transfer.advice_types import Advice
from tlcore.transfer.scores import kendall_tau


@dataclass
class Disagreement:
    """A pair the prediction got the wrong way round."""

    above: str  # predicted to win
    below: str  # actually won
    above_accuracy: float
    below_accuracy: float

    @property
    def points(self) -> float:
        return 100.0 * (self.below_accuracy - self.above_accuracy)

    def text(self) -> str:
        return (f"predicted {self.above} above {self.below}, but {self.below} won by "
                f"{self.points:.1f} points ({self.below_accuracy:.3f} vs {self.above_accuracy:.3f})")


@dataclass
class RankingCheck:
    """Predicted vs actual order on one axis ("strategy" or "backbone")."""

    axis: str
    predicted: list[str]  # predicted order, items with finished runs only
    actual: list[str]  # by mean test accuracy, best first
    accuracy: dict[str, float]  # mean test accuracy over seeds
    runs: dict[str, int]  # finished runs (seeds) per item
    tau: float  # Kendall's tau-b of predicted vs actual; nan for < 2 items
    disagreements: list[Disagreement]
    missing: list[str]  # predicted items without a finished run


@dataclass
class Check:
    strategies: RankingCheck | None
    backbones: RankingCheck | None
    skipped: list[str] = field(default_factory=list)  # records not used, and why

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for axis in ("strategies", "backbones"):
            ranking = getattr(self, axis)
            for plain, dis in zip(d[axis]["disagreements"] if ranking else (),
                                  ranking.disagreements if ranking else (), strict=True):
                plain.update(points=dis.points, text=dis.text())
        return d


def candidate_configs(cfg: RunConfig, advice: Advice, seeds: Sequence[int] = (0,)) -> list[RunConfig]:
    """The one-click check: every predicted strategy on the advised backbone, and every
    ranked backbone with the recommended strategy, for each seed (no duplicates).
    ``cfg`` supplies the run settings (epochs, learning rate, ...)."""
    def on(name: str) -> RunConfig:
        return cfg if name == cfg.backbone else cfg.replace(backbone=name, weights=None, input_size=None)

    out: list[RunConfig] = []
    for seed in seeds:
        for s in advice.predicted_strategies:
            out.append(on(advice.backbone).replace(strategy=s, seed=seed))
        for b in advice.predicted_backbones:
            out.append(on(b).replace(strategy=advice.strategy, seed=seed))
    return list(dict.fromkeys(out))


# -- check ---------------------------------------------------------------------------------

_DATA_FIELDS = ("dataset", "labels_per_class", "val_per_class", "test_per_class")


def _rank_check(axis: str, predicted: Sequence[str], groups: dict[str, list[float]]) -> RankingCheck | None:
    have = [p for p in predicted if p in groups]
    if len(have) < 2:
        return None
    acc = {p: float(np.mean(groups[p])) for p in have}
    actual = sorted(have, key=lambda p: (-acc[p], have.index(p)))  # ties keep predicted order
    tau = kendall_tau([-i for i in range(len(have))], [acc[p] for p in have])
    wrong = [Disagreement(a, b, acc[a], acc[b])
             for i, a in enumerate(have) for b in have[i + 1:] if acc[b] > acc[a]]
    return RankingCheck(axis, have, actual, acc, {p: len(groups[p]) for p in have}, tau, wrong,
                        [p for p in predicted if p not in groups])


def check(advice: Advice, records: Sequence[RunRecord], metric: str = "test_accuracy") -> Check:
    """Predicted vs actual rankings from finished runs of the candidates.

    Strategies are compared on ``advice.backbone``, backbones on ``advice.strategy``; the
    accuracy of each is the mean of ``metric`` over its finished runs (seeds). A record on
    other data than the advice (dataset or label budget) or not a candidate is skipped and
    listed in ``skipped``. Two runs of one candidate that differ in more than their seed
    (e.g. epochs) raise ``ValueError``: averaging them would mix two experiments.
    """
    base = advice.config
    strategies: dict[str, list[float]] = {}
    backbones: dict[str, list[float]] = {}
    seen: dict[tuple[str, str], RunConfig] = {}
    skipped = []
    for r in records:
        c = r.config
        if r.status != "done" or metric not in r.metrics:
            skipped.append(f"{r.id}: {r.status}, no {metric}")
            continue
        other = [f for f in _DATA_FIELDS if getattr(c, f) != getattr(base, f)]
        if other:
            skipped.append(f"{r.id}: other data ({', '.join(f'{f}={getattr(c, f)}' for f in other)})")
            continue
        on_axis_s = c.backbone == advice.backbone and c.strategy in advice.predicted_strategies
        on_axis_b = c.strategy == advice.strategy and c.backbone in advice.predicted_backbones
        if not (on_axis_s or on_axis_b):
            skipped.append(f"{r.id}: not a candidate ({c.backbone}, {c.strategy})")
            continue
        k = (c.backbone, c.strategy)
        first = seen.setdefault(k, c.replace(seed=0))
        if first != c.replace(seed=0):
            diff = [f.name for f in dataclasses.fields(c) if f.name != "seed"
                    and getattr(c, f.name) != getattr(first, f.name)]
            raise ValueError(f"runs of {c.backbone} / {c.strategy} differ in {', '.join(diff)}, not "
                             "only in their seed: pass the runs of one experiment")
        v = float(r.metrics[metric])
        if on_axis_s:
            strategies.setdefault(c.strategy, []).append(v)
        if on_axis_b:
            backbones.setdefault(c.backbone, []).append(v)
    return Check(_rank_check("strategy", advice.predicted_strategies, strategies),
                 _rank_check("backbone", advice.predicted_backbones, backbones), skipped)
