"""The learned advisor: predict each strategy's test accuracy from a task's cheap signals.

A random forest (scikit-learn) is fitted on the meta-dataset (``tlcore.transfer.meta``):
inputs are the task's signals (``meta.SIGNALS``; never the dataset's name, so a prediction
for an unseen dataset can only go through what is measured on it), outputs are, per task,
the mean accuracy over the strategies and each strategy's offset from that mean. Offsets,
because the order of the strategies is what the advice is about: the mean accuracy varies
far more between tasks (a 1-label task against a 100-label one) than the strategies do
within one, and a forest fitted to raw accuracies would spend its splits on the mean. Each
output is standardised so all count equally in the splits.

The uncertainty band is the spread of the forest's trees: the 10th to 90th percentile of
the per-tree predictions of a strategy's accuracy. It says how much the trees disagree, not
a calibrated interval; ``tlcore.transfer.lodo`` measures how often the real accuracy on an
unseen dataset falls inside it.

The model's settings were chosen before any held-out result was seen and are not tuned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tlcore.transfer.meta import SIGNALS, STRATEGIES
from tlcore.transfer.rules import SIMILAR_BELOW, SMALL_PER_CLASS, rule_for

MISSING = -10.0  # a signal that could not be computed; below every real value, so a tree can split it off
BAND = (10.0, 90.0)  # percentiles of the per-tree predictions shown as the band
FOREST = {"n_estimators": 200, "min_samples_leaf": 2, "max_features": 0.5}


@dataclass(frozen=True)
class StrategyPrediction:
    strategy: str
    accuracy: float  # the forest's mean prediction of test accuracy
    low: float  # BAND[0] percentile over the trees
    high: float  # BAND[1] percentile over the trees


@dataclass(frozen=True)
class LearnedAdvisor:
    """A fitted model and what it was fitted on."""

    forest: object  # sklearn RandomForestRegressor
    strategies: tuple[str, ...]
    signals: tuple[str, ...]
    y_mean: np.ndarray  # standardisation of the outputs [1 + len(strategies)]
    y_scale: np.ndarray
    rows: int
    families: tuple[str, ...]  # the datasets it has seen

    def predict(self, signals: Mapping[str, float | None]) -> list[StrategyPrediction]:
        """Predicted accuracy of each strategy with its band, best first."""
        return predict_many(self, [signals])[0]


def features(rows_signals: Sequence[Mapping[str, float | None]], names: Sequence[str] = SIGNALS) -> np.ndarray:
    """The model's input matrix ``[N, len(names)]``; a missing signal becomes ``MISSING``."""
    def value(s: Mapping[str, float | None], n: str) -> float:
        v = s.get(n)
        return MISSING if v is None or not math.isfinite(v) else float(v)

    return np.array([[value(s, n) for n in names] for s in rows_signals], dtype=np.float64).reshape(-1, len(names))


def targets(rows: Sequence[dict], strategies: Sequence[str] = STRATEGIES) -> np.ndarray:
    """``[N, 1 + S]``: each task's mean accuracy over ``strategies``, then each one's offset."""
    acc = np.array([[r["accuracy"][s] for s in strategies] for r in rows], dtype=np.float64)
    mean = acc.mean(1, keepdims=True)
    return np.hstack([mean, acc - mean])


def fit(rows: Sequence[dict], strategies: Sequence[str] = STRATEGIES, seed: int = 0) -> LearnedAdvisor:
    """Fit on ``rows`` (each with an accuracy for every strategy). Deterministic for a seed."""
    from sklearn.ensemble import RandomForestRegressor

    if len(rows) < 2:
        raise ValueError(f"need at least 2 complete rows to fit, got {len(rows)}")
    x = features([r["signals"] for r in rows])
    y = targets(rows, strategies)
    mean, scale = y.mean(0), y.std(0)
    scale[scale == 0] = 1.0
    forest = RandomForestRegressor(random_state=seed, n_jobs=1, **FOREST).fit(x, (y - mean) / scale)
    return LearnedAdvisor(forest, tuple(strategies), SIGNALS, mean, scale, len(rows),
                          tuple(sorted({r["family"] for r in rows})))


def predict_many(model: LearnedAdvisor, signals: Sequence[Mapping[str, float | None]]) -> list[list[StrategyPrediction]]:
    """``model.predict`` for several tasks at once (one pass over the trees)."""
    x = features(signals, model.signals)
    per_tree = np.stack([t.predict(x) for t in model.forest.estimators_])  # [T, N, 1 + S]
    per_tree = per_tree * model.y_scale + model.y_mean
    acc = per_tree[:, :, :1] + per_tree[:, :, 1:]  # [T, N, S]
    mean, lo, hi = acc.mean(0), np.percentile(acc, BAND[0], axis=0), np.percentile(acc, BAND[1], axis=0)
    out = []
    for i in range(len(x)):
        preds = [StrategyPrediction(s, float(mean[i, j]), float(lo[i, j]), float(hi[i, j]))
                 for j, s in enumerate(model.strategies)]
        out.append(sorted(preds, key=lambda p: -p.accuracy))
    return out


def rule_ranking(signals: Mapping[str, float | None]) -> tuple[str, ...]:
    """The classic rule's order of strategies for a task, from the same signals the model
    reads: small below ``SMALL_PER_CLASS`` labels per class, similar below ``SIMILAR_BELOW``
    A-distance (unknown: the dissimilar column, as ``advise`` does)."""
    per_class = round(2 ** float(signals["log2_labels_per_class"]))
    a = signals.get("a_distance")
    sim = "unknown" if a is None else ("similar" if a < SIMILAR_BELOW else "dissimilar")
    return rule_for("small" if per_class < SMALL_PER_CLASS else "large", sim).ranking
