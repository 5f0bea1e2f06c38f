"""Model-based search for ``tlcore sweep --search tpe``: Optuna's TPE sampler picks each
point from the scores of the points before it (an optional extra: ``pip install -e .[search]``).

A point is one set of swept values; it trains once per seed, and Optuna is told the mean
score over its seeds (a point whose runs all failed is told as failed). Points are asked
as slots free up, so with ``--concurrency`` above 1 a few are asked before the results of
the ones in flight are known (TPE simply knows less then). The sampler is seeded with
``--search-seed``, and a trial already in the store is told at once from its stored
result, so with ``--concurrency 1`` the same command asks the same points again and a
stopped sweep resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tlcore.config import RunConfig
from tlcore.runs import RunRecord
from tlcore.sweep import SweepSpec, _apply, _kind, metric
from tlcore.sweep_local import Source

INSTALL = "pip install -e '.[search]' (or pip install optuna)"


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ValueError(f"--search tpe needs Optuna, which is not installed here: {INSTALL}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass
class _Point:
    trial: object
    waiting: set[str]
    scores: list[float] = field(default_factory=list)


@dataclass
class TPESource(Source):
    spec: SweepSpec
    started: list[RunConfig] = field(default_factory=list)

    def __post_init__(self) -> None:
        optuna = _optuna()
        m = metric(self.spec.metric)
        n = self.spec.points()
        self.left = n
        self.queue: list[RunConfig] = []
        self.points: list[_Point] = []
        self.scores: dict[str, float | None] = {}  # run id -> score, once known
        sampler = optuna.samplers.TPESampler(seed=self.spec.search_seed, n_startup_trials=max(2, min(5, n // 3)))
        self.study = optuna.create_study(direction="maximize" if m.higher else "minimize", sampler=sampler)

    def _suggest(self, trial) -> dict:
        point = {}
        for d in self.spec.dims:
            if not d.is_range:
                point[d.name] = trial.suggest_categorical(d.name, list(d.values))
            elif _kind(d.name) == "int":
                point[d.name] = trial.suggest_int(d.name, int(d.low), int(d.high), log=d.log)
            else:
                point[d.name] = float(f"{trial.suggest_float(d.name, d.low, d.high, log=d.log):.4g}")
        return point

    def next(self) -> RunConfig | None:
        if not self.queue and self.left > 0:
            self.left -= 1
            trial = self.study.ask()
            cfgs = [_apply(self.spec.base, self._suggest(trial), seed) for seed in self.spec.seeds]
            ids = {c.run_id() for c in cfgs}
            self.points.append(_Point(trial, set(ids)))
            known = {c.run_id() for c in self.started} | {c.run_id() for c in self.queue}
            self.queue += [c for c in dict.fromkeys(cfgs) if c.run_id() not in known]  # a repeat trains once
            for rid in ids & set(self.scores):
                self._score(rid)
        if not self.queue:
            return None
        cfg = self.queue.pop(0)
        self.started.append(cfg)
        return cfg

    def told(self, cfg: RunConfig, record: RunRecord) -> None:
        rid = cfg.run_id()
        self.scores[rid] = metric(self.spec.metric).read(record) if record.status == "done" else None
        self._score(rid)

    def _score(self, rid: str) -> None:
        """Give ``rid``'s score to every point waiting for it; tell Optuna each point whose
        seeds are all in."""
        optuna = _optuna()
        for p in self.points:
            if rid in p.waiting:
                p.waiting.discard(rid)
                if self.scores[rid] is not None:
                    p.scores.append(self.scores[rid])
                if not p.waiting:
                    if p.scores:
                        self.study.tell(p.trial, sum(p.scores) / len(p.scores))
                    else:
                        self.study.tell(p.trial, state=optuna.trial.TrialState.FAIL)

    def known(self) -> list[RunConfig]:
        return list(self.started)

    def best_point(self) -> dict | None:
        """Optuna's best point and its mean score, once one is told."""
        done = [t for t in self.study.trials if t.value is not None]
        if not done:
            return None
        best = self.study.best_trial
        return {"values": best.params, "score": best.value}
