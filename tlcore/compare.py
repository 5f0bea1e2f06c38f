"""Comparing runs: the classic comparison, seed groups with mean and band, summaries.

Pure functions on stored records, so the app, the CLI and tests read the same numbers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from tlcore.config import RunConfig
from tlcore.names import pair_label
from tlcore.runs import RunRecord

CLASSIC = ("scratch", "feature_extraction", "finetune_all")


def strategy_title(name: str) -> str:
    """A strategy's display title. The registry is imported here, not at the top: it imports
    torch, and Home draws its first paint from this module without needing either."""
    from tlcore.strategies import title

    return title(name)


def classic_comparison(base: RunConfig) -> list[RunConfig]:
    """Scratch vs feature extraction vs fine-tuning on the same data, seed and budget."""
    return [base.replace(strategy=s) for s in CLASSIC]


KNOB = "extra:"  # varying_fields' name for one strategy setting that differs: "extra:dann_weight"


def _declares(cfg: RunConfig, name: str) -> bool:
    from tlcore.strategies import STRATEGIES

    return cfg.strategy in STRATEGIES and any(k.name == name for k in STRATEGIES.get(cfg.strategy).knobs)


def label(cfg: RunConfig, vary: Sequence[str] = ("strategy",)) -> str:
    """A short legend label naming the fields that differ between the runs compared (a
    strategy setting by its name, and only for runs whose strategy has it)."""
    from tlcore.strategies import all_knobs

    parts = []
    for f in vary:
        if f == "strategy":
            parts.append(strategy_title(cfg.strategy))
        elif f.startswith(KNOB):
            name = f[len(KNOB):]
            if _declares(cfg, name):
                parts.append(f"{all_knobs()[name].title} {all_knobs()[name].raw(cfg):g}")
        else:
            parts.append(f"{f}={getattr(cfg, f)}")
    return ", ".join(parts) or cfg.strategy


def varying_fields(cfgs: Sequence[RunConfig], ignore: Sequence[str] = ("seed",)) -> list[str]:
    """The config fields that differ between ``cfgs``. ``extra`` is split into the settings
    that differ among the runs whose strategy declares them (``KNOB + name``): a DANN
    strength that differs between DANN runs is named, a target pool shared by every
    adaptation run (and absent from source-only's config) is not."""
    if not cfgs:
        return []
    dicts = [c.to_dict() for c in cfgs]
    out = [k for k in dicts[0] if k not in ignore and any(d[k] != dicts[0][k] for d in dicts)]
    if "extra" in out:
        from tlcore.strategies import all_knobs

        knobs = all_knobs()
        names = sorted({n for c in cfgs for n, _ in c.extra if n in knobs})
        differ = [KNOB + n for n in names if len({knobs[n].raw(c) for c in cfgs if _declares(c, n)}) > 1]
        out = [k for k in out if k != "extra"]
        at = out.index("strategy") + 1 if "strategy" in out else len(out)
        out[at:at] = differ  # right after the strategy, which they qualify
    return out


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


def scored_images(rec: RunRecord, metric: str = "test_accuracy") -> int:
    """How many images ``metric`` was measured on (from the run's provenance)."""
    side = "target" if metric == "target_accuracy" else "source"
    n = rec.provenance.get("data", {}).get(side, {}).get("test")
    if n:
        return int(n)
    classes = len(rec.metrics.get("class_names", ())) or 10
    return rec.config.test_per_class * classes


def noise_points(p1: float, p2: float, n: int) -> float:
    """Two standard errors (in points) of the gap between two accuracies each measured on
    ``n`` test images: a gap below this can come from which images happened to be drawn.
    (Binomial, unpaired: conservative for two runs scored on the same images.)"""
    return 200 * math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / max(1, n))


def _what(metric: str) -> str:
    return "target-domain accuracy" if metric == "target_accuracy" else "test accuracy"


def winner_sentence(records: Sequence[RunRecord], metric: str = "test_accuracy") -> str:
    """Which run won on ``metric`` and by how much, in one sentence a student can read; a
    gap within the test set's noise (``noise_points``) is called that, not a win."""
    done = [r for r in records if r.status == "done" and metric in r.metrics]
    if len(done) < 2:
        return ""
    ranked = sorted(done, key=lambda r: r.metrics[metric], reverse=True)
    best, rest = ranked[0], ranked[1:]
    what = _what(metric)
    vary = varying_fields([r.config for r in done]) or ["strategy"]
    others = ", ".join(f"{label(r.config, vary)} {r.metrics[metric]:.1%}" for r in rest)
    p1, p2 = best.metrics[metric], rest[0].metrics[metric]
    margin = (p1 - p2) * 100
    n = scored_images(best, metric)
    bound = noise_points(p1, p2, n)
    c = best.config
    ctx = (f"{pair_label(c.dataset, c.target)}, "
           f"{'all' if c.labels_per_class is None else c.labels_per_class} labels per class, "
           f"backbone {c.backbone}, seed {c.seed}")
    if margin < max(0.5, bound):
        return (f"Within noise: {label(c, vary)} {p1:.1%} {what} vs {others} ({ctx}). On {n:,} test images "
                f"a gap under {bound:.1f} points can be chance, and this one is {margin:.1f}: run more seeds "
                "before calling a winner.")
    return (f"{label(c, vary)} won with {p1:.1%} {what}, {margin:.1f} points ahead of the runner-up "
            f"({others}; {ctx}). That is more than the {bound:.1f} points {n:,} test images could explain, "
            "but it is one seed: more seeds would show how much it varies.")


# -- the Compare page's pieces ---------------------------------------------------------
def parse_run_ids(raw: str | None, known: Sequence[str], limit: int = 50) -> tuple[list[str], list[str]]:
    """Run ids from a link's ``runs=id1,id2``: (known ids in link order, ignored entries).

    Links are typed and pasted by people, so nothing here raises: unknown, malformed or
    repeated entries are dropped and returned so the page can say so."""
    if not raw:
        return [], []
    known_set = set(known)
    ids, bad = [], []
    for part in raw.split(",")[:limit]:
        rid = part.strip().lower()
        if not rid:
            continue
        if rid in known_set:
            if rid not in ids:
                ids.append(rid)
        else:
            bad.append(part.strip()[:40])
    return ids, bad


def describe_run(rec: RunRecord) -> str:
    """One line that tells runs apart in a picker: strategy, backbone, data, labels, seed,
    status and (when done) test accuracy."""
    c = rec.config
    title = strategy_title(c.strategy)
    data = pair_label(c.dataset, c.target)
    labels = "all" if c.labels_per_class is None else c.labels_per_class
    acc = rec.metrics.get("test_accuracy")
    tail = f"{acc:.1%}" if acc is not None else rec.status
    return f"{title} · {c.backbone} · {data} · {labels}/class · seed {c.seed} · {tail} · {rec.id[:6]}"


def group_label(group: SeedGroup, vary: Sequence[str]) -> str:
    n = len(group.runs)
    return label(group.config, vary) + (f" (mean of {n} seeds)" if n > 1 else f" (seed {group.config.seed})")


def final_table(groups: Sequence[SeedGroup], vary: Sequence[str],
                metrics: Sequence[str] = ("test_accuracy", "target_accuracy")) -> list[dict]:
    """One row per seed group: mean and standard deviation (in points; None for a single
    seed) of each final metric over the group's finished seeds, with ``n``; metrics no run
    has are left out."""
    present = [m for m in metrics if any(g.final(m) for g in groups)]
    rows = []
    for g in groups:
        row: dict = {"runs": label(g.config, vary), "n": len(g.runs)}
        for m in present:
            f = g.final(m)
            row[m] = f[0] if f else None
            row[f"{m}_std"] = f[1] * 100 if f and f[2] > 1 else None  # no spread from one seed
        secs = [r.seconds for r in g.runs if r.seconds is not None]
        row["seconds"] = statistics.mean(secs) if secs else None
        rows.append(row)
    return rows


def group_winner_sentence(groups: Sequence[SeedGroup], metric: str = "test_accuracy") -> str:
    """Like ``winner_sentence`` but on seed means: a win counts only if the margin is larger
    than half a point, than the seeds' own spread and than the test set's noise on a mean
    of that many seeds."""
    scored = [(g, g.final(metric)) for g in groups]
    scored = [(g, f) for g, f in scored if f is not None]
    if len(scored) < 2:
        return ""
    if all(f[2] == 1 for _, f in scored):
        return winner_sentence([r for g, _ in scored for r in g.runs], metric)
    scored.sort(key=lambda gf: gf[1][0], reverse=True)
    vary = varying_fields([g.config for g, _ in scored]) or ["strategy"]
    what = _what(metric)

    def fmt(g, f):
        return f"{label(g.config, vary)} {f[0]:.1%} ± {f[1] * 100:.1f}, n={f[2]}"

    (best, fb), fs = scored[0], scored[1][1]
    margin = (fb[0] - fs[0]) * 100
    others = ", ".join(fmt(g, f) for g, f in scored[1:])
    test_noise = noise_points(fb[0], fs[0], scored_images(best.runs[0], metric)) / math.sqrt(min(fb[2], fs[2]))
    if margin < max(0.5, fb[1] * 100, fs[1] * 100, test_noise):
        return (f"Too close to call on {what}: {fmt(best, fb)} vs {others}. The gap ({margin:.1f} points) "
                "is within the spread over seeds or the test set's noise: add seeds before calling a winner.")
    return (f"{label(best.config, vary)} won on mean {what}: {fb[0]:.1%} ± {fb[1] * 100:.1f} over {fb[2]} seeds, "
            f"{margin:.1f} points ahead of the runner-up ({others}). ± is the standard deviation over seeds.")
