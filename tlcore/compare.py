"""Comparing runs: the classic comparison, seed groups with mean and band, summaries.

Pure functions on stored records, so the app, the CLI and tests read the same numbers.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from tlcore.config import RunConfig
from tlcore.runs import RunRecord
from tlcore.strategies import STRATEGIES

CLASSIC = ("scratch", "feature_extraction", "finetune_all")


def classic_comparison(base: RunConfig) -> list[RunConfig]:
    """Scratch vs feature extraction vs fine-tuning on the same data, seed and budget."""
    return [base.replace(strategy=s) for s in CLASSIC]


def label(cfg: RunConfig, vary: Sequence[str] = ("strategy",)) -> str:
    """A short legend label naming the fields that differ between the runs compared."""
    parts = []
    for f in vary:
        v = getattr(cfg, f)
        if f == "strategy":
            parts.append(STRATEGIES.get(v).title if v in STRATEGIES else v)
        else:
            parts.append(f"{f}={v}")
    return ", ".join(parts) or cfg.strategy


def varying_fields(cfgs: Sequence[RunConfig], ignore: Sequence[str] = ("seed",)) -> list[str]:
    if not cfgs:
        return []
    dicts = [c.to_dict() for c in cfgs]
    return [k for k in dicts[0] if k not in ignore and any(d[k] != dicts[0][k] for d in dicts)]


@dataclass
class SeedGroup:
    """Runs that differ only in their seed: curves averaged per epoch, with min/max band."""

    key: str
    config: RunConfig  # the first run's config
    runs: list[RunRecord]

    def curve(self, metric: str, x: str = "epoch") -> dict:
        """Mean and band of ``metric`` per epoch over seeds (epochs all seeds reached)."""
        hists = [r.history for r in self.runs if r.history]
        n = min((len(h) for h in hists), default=0)
        xs, mean, lo, hi = [], [], [], []
        for i in range(n):
            vals = [h[i][metric] for h in hists if h[i].get(metric) is not None]
            if not vals:
                continue
            xs.append(statistics.mean(h[i][x] for h in hists))
            mean.append(statistics.mean(vals))
            lo.append(min(vals))
            hi.append(max(vals))
        return {"x": xs, "mean": mean, "lo": lo, "hi": hi, "n": len(hists)}

    def final(self, metric: str) -> tuple[float, float, int] | None:
        vals = [r.metrics[metric] for r in self.runs if metric in r.metrics]
        if not vals:
            return None
        return statistics.mean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0), len(vals)


def group_by_seed(records: Sequence[RunRecord]) -> list[SeedGroup]:
    groups: dict[str, SeedGroup] = {}
    for r in records:
        key = r.config.replace(seed=0).run_id()
        if key not in groups:
            groups[key] = SeedGroup(key, r.config, [])
        groups[key].runs.append(r)
    return list(groups.values())


def winner_sentence(records: Sequence[RunRecord], metric: str = "test_accuracy") -> str:
    """Which run won on ``metric`` and by how much, in one sentence a student can read."""
    done = [r for r in records if r.status == "done" and metric in r.metrics]
    if len(done) < 2:
        return ""
    ranked = sorted(done, key=lambda r: r.metrics[metric], reverse=True)
    best, rest = ranked[0], ranked[1:]
    what = "target accuracy" if metric == "target_accuracy" else "test accuracy"
    vary = varying_fields([r.config for r in done]) or ["strategy"]
    others = ", ".join(f"{label(r.config, vary)} {r.metrics[metric]:.1%}" for r in rest)
    margin = (best.metrics[metric] - rest[0].metrics[metric]) * 100
    c = best.config
    ctx = (f"{c.dataset}{' → ' + c.target if c.target else ''}, "
           f"{'all' if c.labels_per_class is None else c.labels_per_class} labels per class, "
           f"backbone {c.backbone}, seed {c.seed}")
    if margin < 0.5:
        return (f"A tie within half a point: {label(c, vary)} {best.metrics[metric]:.1%} {what}, "
                f"{others} ({ctx}). Try more seeds before calling a winner.")
    return (f"{label(c, vary)} won with {best.metrics[metric]:.1%} {what}, "
            f"{margin:.1f} points ahead of the runner-up ({others}; {ctx}).")
