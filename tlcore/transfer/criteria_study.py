"""How well each label-free criterion picks an adaptation run, measured where target labels
do exist (issue #16's study).

For every pair in ``PAIRS`` the same small grid of candidates (``CANDIDATES``: source-only,
DANN at three strengths, CDAN+E, Deep CORAL, MCC, AdaBN) is trained once. Each criterion
(``tlcore.transfer.criteria``) then ranks the pair's runs without looking at a target
label, and the true target accuracy says how good that ranking was:

- ``tau``: Kendall's tau between the criterion (oriented so higher = predicted better) and
  target accuracy, per pair;
- ``hit``: whether the run the criterion picks is within ``HIT_POINTS`` of the best;
- ``regret_vs_source``: the picked run's target accuracy minus source-only's (what a user
  who trusted the criterion gained or lost over not adapting).

``best_criterion`` names the criterion whose picks were safe (never more than 2 points
below source-only) and gained most; ``auto`` and the Domain adaptation page judge a user's
runs by it.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tlcore.config import RunConfig
from tlcore.runs import RunRecord
from tlcore.strategies import STRATEGIES
from tlcore.transfer.criteria import CRITERIA
from tlcore.transfer.scores import kendall_tau

HIT_POINTS = 0.02

# Pairs whose target has labels (so the criteria can be checked): real domain changes and
# synthetic shifts of several kinds and severities.
PAIRS: tuple[tuple[str, str], ...] = (
    ("mnist", "mnist_m"), ("synth_digits", "mnist"), ("mnist", "synth_digits"), ("synth_digits", "mnist_m"),
    ("mnist", "mnist:rotate=3"), ("mnist", "mnist:invert=3"), ("mnist", "mnist:colour=4,invert=2"),
    ("mnist", "mnist:scale=4"), ("mnist", "mnist:noise=4"),
)

# (strategy, its settings): what an "which adaptation, how strong?" search would try
CANDIDATES: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
    ("source_only", ()), ("dann", (("dann_weight", 0.1),)), ("dann", ()), ("dann", (("dann_weight", 1.0),)),
    ("cdan", ()), ("coral", ()), ("mcc", ()), ("adabn", ()),
)

BASE = RunConfig(backbone="lab_synth_digits", dataset="mnist", target="mnist_m", strategy="source_only",
                 labels_per_class=50, val_per_class=10, test_per_class=30, epochs=5, batch_size=64,
                 lr=1e-3, backbone_lr_mult=1.0, extra=(("target_pool_max", 3000.0),))


def study_configs(base: RunConfig = BASE, pairs: Sequence[tuple[str, str]] = PAIRS,
                  seed: int = 0) -> list[RunConfig]:
    """Every candidate on every pair (each run keeps only its own strategy's settings)."""
    out = []
    for src, tgt in pairs:
        for name, settings in CANDIDATES:
            cfg = base.replace(dataset=src, target=tgt, seed=seed, extra=tuple(sorted((*base.extra, *settings))))
            out.append(STRATEGIES.get(name).own_settings(cfg))
    return out


# settings every candidate of a run shares (how much target to draw, which groups train):
# they say under what regime the candidates ran, not which candidate a run is
SHARED = ("target_pool_max", "adapt_top")


def label(cfg: RunConfig) -> str:
    """A candidate as a person reads it: ``DANN (dann_weight 1)``."""
    own = ", ".join(f"{k} {v:g}" for k, v in cfg.extra if k not in SHARED)
    return STRATEGIES.get(cfg.strategy).title + (f" ({own})" if own else "")


@dataclass
class PairResult:
    source: str
    target: str
    runs: list[dict]  # label, strategy, target_accuracy, criteria
    tau: dict[str, float]
    picked: dict[str, str]  # criterion -> the label of the run it picks
    hit: dict[str, bool]
    regret_vs_source: dict[str, float]
    best: str  # the label of the run with the best target accuracy

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def oriented(name: str, value: float) -> float:
    """A criterion's value with higher = predicted better."""
    return value if CRITERIA.get(name).higher_is_better else -value


def can_pick(criterion: str, strategy: str) -> bool:
    """Whether ``criterion`` may pick a run of ``strategy``: not when the strategy's loss
    optimises it on the target (``Strategy.optimises``: MCC's confident predictions have
    a low entropy whether they are right or not)."""
    return criterion not in STRATEGIES.get(strategy).optimises


def pick_index(criterion: str, runs: Sequence[dict]) -> int:
    """The run (``{"strategy", "criteria"}``) ``criterion`` ranks first among those it may pick."""
    return max((j for j, r in enumerate(runs) if can_pick(criterion, r["strategy"])),
               key=lambda j: oriented(criterion, runs[j]["criteria"][criterion]))


def summarise_pair(recs: Sequence[RunRecord]) -> PairResult:
    """One pair's runs (finished, with criteria) judged by every criterion."""
    runs = [{"label": label(r.config), "strategy": r.config.strategy,
             "target_accuracy": r.metrics["target_accuracy"], "criteria": r.metrics["criteria"]} for r in recs]
    return summarise_runs(recs[0].config.dataset, recs[0].config.target, runs)


def summarise_runs(source_domain: str, target: str, runs: list[dict]) -> PairResult:
    """``summarise_pair`` on runs as a recorded study keeps them (label, strategy, target
    accuracy, criteria). Tau ranks every run; a criterion picks only among the runs it may
    judge (``can_pick``)."""
    acc = [r["target_accuracy"] for r in runs]
    best = max(acc)
    source = next((r["target_accuracy"] for r in runs if r["strategy"] == "source_only"), math.nan)
    tau, picked, hit, regret = {}, {}, {}, {}
    for c in CRITERIA.names():
        tau[c] = kendall_tau([oriented(c, r["criteria"][c]) for r in runs], acc)
        i = pick_index(c, runs)
        picked[c], hit[c] = runs[i]["label"], acc[i] >= best - HIT_POINTS
        regret[c] = acc[i] - source
    return PairResult(source_domain, target, runs, tau, picked, hit, regret, runs[acc.index(best)]["label"])


def summarise(recs: Sequence[RunRecord]) -> tuple[list[PairResult], dict[str, dict]]:
    """Per pair, then per criterion over pairs: mean tau, hit rate, worst and mean regret."""
    by_pair: dict[tuple[str, str], list[RunRecord]] = {}
    for r in recs:
        if r.status == "done" and "criteria" in r.metrics:
            by_pair.setdefault((r.config.dataset, r.config.target), []).append(r)
    pairs = [summarise_pair(rs) for rs in by_pair.values() if len(rs) > 1]
    return pairs, overall_of(pairs)


def overall_of(pairs: Sequence[PairResult]) -> dict[str, dict]:
    """Per criterion over ``pairs``: mean tau, hit rate, worst and mean regret."""
    overall = {}
    for c in CRITERIA.names():
        taus = [p.tau[c] for p in pairs if not math.isnan(p.tau[c])]
        overall[c] = {"title": CRITERIA.get(c).title,
                      "mean_tau": statistics.fmean(taus) if taus else math.nan,
                      "hit_rate": statistics.fmean(p.hit[c] for p in pairs) if pairs else math.nan,
                      "worst_vs_source": min((p.regret_vs_source[c] for p in pairs), default=math.nan),
                      "mean_vs_source": statistics.fmean(p.regret_vs_source[c] for p in pairs) if pairs else math.nan}
    return overall


def best_criterion(overall: dict[str, dict]) -> str:
    """The criterion to trust for picking a run: among those whose pick was never more than
    ``HIT_POINTS`` below source-only on any pair, the one whose picks gained most over
    source-only on average (then the higher mean tau).

    Not simply the best mean tau: in the recorded study every criterion's tau was near 0
    over eight candidates (the candidates' accuracies are close, so the order among the
    middle ones is noise), and the best tau (source validation accuracy, 0.08) picked
    source-only-like runs that gained nothing, while DEV's picks gained 9.5 points on
    average and never lost more than 1. What ``auto`` needs is a good pick, not a good
    full ranking."""
    def key(c: str) -> tuple[bool, float, float]:
        o = overall[c]
        worst, gain, tau = o["worst_vs_source"], o["mean_vs_source"], o["mean_tau"]
        safe = not math.isnan(worst) and worst >= -HIT_POINTS
        return (safe, -math.inf if math.isnan(gain) else gain, -math.inf if math.isnan(tau) else tau)

    return max(overall, key=key)


def held_out(pairs: Sequence[PairResult]) -> list[dict]:
    """``best_criterion`` tested on pairs it did not see: for each pair, the rule picks a
    criterion from the other pairs alone, and that criterion's pick on the left-out pair
    is scored (gain over source-only, and whether it was within ``HIT_POINTS`` of the
    best). The in-sample choice reuses the pairs it is judged on; this does not."""
    out = []
    for i, p in enumerate(pairs):
        c = best_criterion(overall_of([q for j, q in enumerate(pairs) if j != i]))
        out.append({"source": p.source, "target": p.target, "criterion": c, "picked": p.picked[c],
                    "vs_source": p.regret_vs_source[c], "hit": p.hit[c]})
    return out


def held_out_sentence(study: dict) -> str:
    """``held_out`` of a recorded study, in one sentence."""
    folds = held_out([PairResult(**p) for p in study["pairs"]])
    gains = [f["vs_source"] for f in folds]
    chosen = list(dict.fromkeys(f["criterion"] for f in folds))  # in fold order
    return (f"Chosen without the pair it is then tested on (leave one pair out, {len(folds)} folds), the "
            f"rule picks {' or '.join(CRITERIA.get(c).title for c in chosen)}; on the left-out pairs those "
            f"picks gained {statistics.fmean(gains) * 100:+.1f} points over source-only on average, were better on "
            f"{sum(g > 0 for g in gains)}, equal on {sum(g == 0 for g in gains)} and worse on "
            f"{sum(g < 0 for g in gains)} (worst {min(gains) * 100:+.1f}).")


def markdown_table(overall: dict[str, dict]) -> str:
    lines = ["| criterion | mean Kendall tau | picks within 2 points of the best | mean vs source-only | "
             "worst vs source-only |", "|---|---|---|---|---|"]
    for o in overall.values():
        lines.append(f"| {o['title']} | {o['mean_tau']:.2f} | {o['hit_rate']:.0%} | "
                     f"{o['mean_vs_source'] * 100:+.1f} pts | {o['worst_vs_source'] * 100:+.1f} pts |")
    return "\n".join(lines)


# in assets/results, written by `tlcore criteria --record FILE`: one study per regime, since
# which criterion can be trusted depends on how the candidates were trained. Measured: with
# every group training DEV's picks were the safe ones; with only the top half adapting
# (adapt_top, auto's regime on a user's folders) DEV's picks fell 5 points below
# source-only on one pair and target entropy's never did.
RECORD = "criteria_study.json"  # every group trains
RECORD_TOP = "criteria_study_adapt_top.json"  # `--set adapt_top=2`: the top half of the groups adapt


def recorded_study(top: bool = False) -> dict | None:
    """The recorded study of a regime (``top``: only the top groups adapt), read once per
    change of the file (a page rerun asks for it several times). Shared: do not modify it."""
    from tlcore.transfer.adapt_study import results_dir

    path = results_dir() / (RECORD_TOP if top else RECORD)
    return _read(str(path), path.stat().st_mtime_ns) if path.is_file() else None


def adapts_top(recs: Sequence[RunRecord]) -> bool:
    """Whether these runs adapted only their top groups (``adapt_top``), auto's regime on a
    user's folders."""
    return any(dict(r.config.extra).get("adapt_top", 0) > 0 for r in recs)


@dataclass(frozen=True)
class Trusted:
    criterion: str
    study: dict | None  # the recorded study that chose it
    own_regime: bool  # the study trained its candidates as the judged runs were (adapt_top or not)


def trusted(recs: Sequence[RunRecord]) -> Trusted:
    """The criterion to judge ``recs`` by, and the recorded study that chose it: the study of
    the runs' own regime (the every-group study when that one is missing); DEV, the
    paper-backed default, when none is recorded."""
    top = adapts_top(recs)
    if study := recorded_study(top):
        return Trusted(study["best"], study, True)
    study = recorded_study()
    return Trusted(study["best"] if study else "dev", study, not top)


@functools.lru_cache(maxsize=4)
def _read(path: str, stamp: int) -> dict:
    import json

    return json.loads(Path(path).read_text())


@dataclass
class Judgement:
    """What a criterion says about one study's methods, without target labels."""

    criterion: str
    picked: str  # the method the criterion ranks first
    worse: list[str]  # methods it says did worse on the target than source-only
    values: dict[str, float]  # method -> mean criterion value over its runs
    unjudged: tuple[str, ...] = ()  # methods trained to optimise the criterion (``can_pick``)


def judge(recs: Sequence[RunRecord], criterion: str) -> Judgement | None:
    """Rank one study's adaptation methods by ``criterion`` (mean over seeds); None
    without a finished source-only run to compare with."""
    done = [r for r in recs if r.status == "done" and "criteria" in r.metrics
            and not STRATEGIES.get(r.config.strategy).train_on_target]  # the oracle used target labels
    values: dict[str, list[float]] = {}
    for r in done:
        values.setdefault(r.config.strategy, []).append(r.metrics["criteria"][criterion])
    if "source_only" not in values:
        return None
    mean = {m: statistics.fmean(v) for m, v in values.items()}
    base = oriented(criterion, mean["source_only"])
    judged = [m for m in mean if can_pick(criterion, m)]
    worse = [m for m in judged if m != "source_only" and oriented(criterion, mean[m]) < base]
    return Judgement(criterion, max(judged, key=lambda m: oriented(criterion, mean[m])), worse, mean,
                     tuple(m for m in mean if m not in judged))


AUTO = "auto"  # `tlcore run --strategy auto`: not a registered strategy but a choice among CANDIDATES


def auto_configs(cfg: RunConfig) -> list[RunConfig]:
    """The candidates ``auto`` trains for ``cfg``'s pair, with ``cfg``'s own settings."""
    if not cfg.target:
        raise ValueError("auto picks a domain-adaptation method, so it needs a target domain (--target)")
    return study_configs(cfg.replace(strategy="source_only"), [(cfg.dataset, cfg.target)], cfg.seed)


@dataclass
class AutoChoice:
    picked: RunRecord
    criterion: str
    why: str
    judgement: Judgement


def auto_pick(recs: Sequence[RunRecord], criterion: str | None = None) -> AutoChoice:
    """The candidate ``criterion`` (default: ``trusted``, the recorded study's best for the
    runs' regime) ranks first, and a sentence saying why, in words a user without target
    labels can act on."""
    by_top_study = False
    if criterion is None:
        t = trusted(recs)
        criterion, by_top_study = t.criterion, t.own_regime and adapts_top(recs)
    done = [r for r in recs if r.status == "done" and "criteria" in r.metrics]
    if not any(r.config.strategy == "source_only" for r in done):
        raise ValueError("auto needs its source-only run to compare with, and it did not finish")
    best = done[pick_index(criterion, [{"strategy": r.config.strategy, "criteria": r.metrics["criteria"]}
                                       for r in done])]
    j = judge(done, criterion)
    info = CRITERIA.get(criterion)
    src = next(r for r in done if r.config.strategy == "source_only")
    value, base = best.metrics["criteria"][criterion], src.metrics["criteria"][criterion]
    why = (f"{label(best.config)} has the {'highest' if info.higher_is_better else 'lowest'} {info.title} "
           f"({value:.3g}; source-only {base:.3g}) of {len(done)} candidates. {info.title} is the criterion "
           "whose picks were safe and gained most over source-only in the recorded study"
           + (" of runs trained as these were (only the top groups adapting)" if by_top_study else "")
           + "; it reads no target label.")
    if j is not None and j.unjudged:
        why += (f" Not ranked by it: {', '.join(STRATEGIES.get(m).title for m in j.unjudged)}, whose training "
                "drives it on the target (the value then says what was trained, not whether the predictions are right).")
    if best.config.strategy == "source_only":
        why = f"No adaptation method looked better than source-only by {info.title}: keeping source-only. " + why
    return AutoChoice(best, criterion, why, j)


def near_best(study: dict, run_label: str) -> int:
    """On how many of a recorded study's pairs the candidate ``run_label`` was within
    ``HIT_POINTS`` of the best target accuracy."""
    n = 0
    for p in study["pairs"]:
        acc = {r["label"]: r["target_accuracy"] for r in p["runs"]}
        n += run_label in acc and acc[run_label] >= max(acc.values()) - HIT_POINTS
    return n
