"""The learned advisor applied to one task, and the one-click check feeding it.

What the Strategy advisor page and ``tlcore advise --learned`` call: the rows to fit on (the
shipped meta-dataset plus the rows a store's own checks added), a model fitted on them
(cached by the rows, so a page rerun does not refit), the prediction for a task beside the
classic rule's order, and :func:`add_check_rows`, which turns a finished check into rows of
the store's table so the next refit learns from it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from tlcore.config import RunConfig
from tlcore.runs import RunRecord
from tlcore.transfer.learned import LearnedAdvisor, StrategyPrediction, fit, rule_ranking
from tlcore.transfer.meta import (
    SHIPPED_TABLE,
    STRATEGIES,
    complete_rows,
    load_table,
    make_row,
    merge_rows,
    save_table,
    task_signals,
    user_table,
)


@dataclass(frozen=True)
class LearnedAdvice:
    """The learned prediction for one task on one backbone, beside the rule's order."""

    config: RunConfig  # the task, on the backbone the signals were measured in
    signals: dict[str, float | None]
    predictions: tuple[StrategyPrediction, ...]  # best first
    rule: tuple[str, ...]  # the classic rule's order, from the same signals
    rows: int  # tasks the model was fitted on
    user_rows: int  # of which from this store's checks
    families: tuple[str, ...]  # datasets the model has seen
    epochs: tuple[int, ...] = ()  # the training epochs of the runs it was fitted on
    backbones: tuple[str, ...] = ()  # the backbones of the tasks it was fitted on

    @property
    def seen_backbone(self) -> bool:
        """Whether the model was fitted on tasks with this backbone (the shipped table has lab
        backbones only: for an ImageNet one it extrapolates)."""
        return self.config.backbone in self.backbones

    @property
    def strategy(self) -> str:
        return self.predictions[0].strategy

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "signals": self.signals, "rule": list(self.rule),
                "predictions": [p.__dict__ for p in self.predictions], "rows": self.rows,
                "user_rows": self.user_rows, "families": list(self.families), "epochs": list(self.epochs),
                "backbones": list(self.backbones)}


def shipped_table() -> dict:
    return load_table(SHIPPED_TABLE)


def fit_rows(store_root: str | os.PathLike | None = None) -> tuple[list[dict], int]:
    """(complete rows to fit on, how many of them came from the store's checks): the shipped
    table, with the store's rows added (a store row replaces a shipped one of the same task)."""
    rows = complete_rows(shipped_table()["rows"])
    if store_root is None:
        return rows, 0
    mine = complete_rows(load_table(user_table(store_root))["rows"])
    return merge_rows({"rows": rows}, mine)["rows"], len(mine)


_MODELS: dict[str, LearnedAdvisor] = {}  # by a digest of the rows fitted on


def model_for(rows: Sequence[dict]) -> LearnedAdvisor:
    """The model fitted on ``rows``, fitted once per process for the same rows (a page
    rerun or a second task does not refit; new check rows do)."""
    key = hashlib.sha256(json.dumps(list(rows), sort_keys=True).encode()).hexdigest()
    if key not in _MODELS:
        if len(_MODELS) >= 4:
            _MODELS.pop(next(iter(_MODELS)))
        _MODELS[key] = fit(rows)
    return _MODELS[key]


def learned_advice(cfg: RunConfig, backbone: str | None = None,
                   store_root: str | os.PathLike | None = None) -> LearnedAdvice:
    """The learned prediction for ``cfg``'s task on ``backbone`` (default ``cfg.backbone``)."""
    bcfg = cfg if backbone in (None, cfg.backbone) else cfg.replace(backbone=backbone, weights=None, input_size=None)
    rows, mine = fit_rows(store_root)
    model = model_for(rows)
    signals = task_signals(bcfg)
    return LearnedAdvice(bcfg, signals, tuple(model.predict(signals)), rule_ranking(signals), model.rows, mine,
                         model.families, tuple(sorted({int(r["epochs"]) for r in rows})),
                         tuple(sorted({r["backbone"] for r in rows})))


def check_rows(records: Sequence[RunRecord]) -> list[dict]:
    """Rows from a check's finished runs: one per task (data, budget, backbone, seed, epochs)
    that has a done run of every strategy in ``STRATEGIES``; other records are ignored."""
    groups: dict[str, dict[str, RunRecord]] = {}
    for r in records:
        if r.status == "done" and "test_accuracy" in r.metrics and r.config.strategy in STRATEGIES:
            groups.setdefault(r.config.replace(strategy="feature_extraction").run_id(), {})[r.config.strategy] = r
    rows = []
    for recs in groups.values():
        if set(recs) != set(STRATEGIES):
            continue
        task = next(iter(recs.values())).config.replace(strategy="feature_extraction")
        rows.append(make_row(task, task_signals(task), {s: float(r.metrics["test_accuracy"]) for s, r in recs.items()},
                             {s: r.id for s, r in recs.items()}, "check"))
    return rows


def add_check_rows(store_root: str | os.PathLike, records: Sequence[RunRecord]) -> int:
    """Add a finished check's rows to the store's table; returns how many rows it added or
    replaced (0 when no task has a run of every strategy)."""
    rows = check_rows(records)
    if rows:
        path = user_table(store_root)
        save_table(path, merge_rows(load_table(path), rows))
    return len(rows)


def extra_configs(cfg: RunConfig, backbone: str, seeds: Sequence[int], ranked: Sequence[str]) -> list[RunConfig]:
    """The runs a check needs beyond the rule's candidates for its task to become a row of
    the meta-dataset: every strategy of ``STRATEGIES`` the rule does not rank (``ranked``),
    on ``backbone``, for each seed."""
    on = cfg if backbone == cfg.backbone else cfg.replace(backbone=backbone, weights=None, input_size=None)
    return [on.replace(strategy=s, seed=seed) for seed in seeds for s in STRATEGIES if s not in ranked]
