"""A domain-adaptation study: one source -> target pair, four methods, several seeds.

The question is how much of the gap between training on the source only and training on
labelled target images (the oracle) an adaptation method closes with *unlabelled* target
images. ``study_configs`` builds the runs (they go through the store like any other run),
``summarise`` turns the finished records into the table the page, the CLI and the README
show, ``snapshot_sets`` reads the per-epoch feature snapshots a run stored for the
embeddings that move over training.

``DEFAULT`` is the setting tuned for the MNIST -> MNIST-M reproduction (see ``reproduce``
in the CLI and the README): a short run on a laptop CPU, which is why it uses a label
budget and a few epochs rather than Ganin et al.'s full MNIST for many epochs.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tlcore.config import RunConfig
from tlcore.runs import RunRecord
from tlcore.strategies import STRATEGIES

# every registered strategy that needs a target, in listing order: a new adaptation method
# file joins the study, the CLI's default and the Domain adaptation page by itself
METHODS = tuple(s.name for s in STRATEGIES if s.requires_target)

# Ganin et al. 2016 (JMLR), Table 2, MNIST -> MNIST-M target accuracy.
PUBLISHED = {("mnist", "mnist_m"): {"source_only": 0.5225, "dann": 0.7666, "target_oracle": 0.9596}}
PUBLISHED_SOURCE = "Ganin et al. 2016, JMLR 17(59), Table 2"

DEFAULT = RunConfig(
    backbone="lab_synth_digits", dataset="mnist", target="mnist_m", strategy="dann",
    labels_per_class=100, val_per_class=10, test_per_class=50, epochs=8, batch_size=64,
    lr=1e-3, backbone_lr_mult=1.0, schedule="cosine", optimizer="adam",
)


def study_configs(base: RunConfig, methods: Sequence[str] = METHODS,
                  seeds: Sequence[int] = (0,)) -> list[RunConfig]:
    """The runs of one study: every method x seed on ``base``'s pair and settings. Each
    method keeps only the strategy settings it declares (DANN's weight does not give the
    source-only runs a new id)."""
    if not base.target:
        raise ValueError("a domain-adaptation study needs a target domain")
    return [STRATEGIES.get(m).own_settings(base).replace(seed=s) for s in seeds for m in methods]


@dataclass
class MethodSummary:
    method: str
    seeds: list[int]
    target_accuracy: float  # mean over seeds
    target_std: float  # standard deviation over seeds (0 for one seed)
    source_accuracy: float
    a_distance_before: float
    a_distance_after: float
    seconds: float
    published: float | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _mean(xs: list[float]) -> float:
    return statistics.mean(xs) if xs else float("nan")


def summarise(records: Sequence[RunRecord]) -> list[MethodSummary]:
    """One row per method (in ``METHODS`` order) over the finished runs given."""
    done = [r for r in records if r.status == "done" and "target_accuracy" in r.metrics]
    rows = []
    methods = [m for m in METHODS if any(r.config.strategy == m for r in done)]
    methods += sorted({r.config.strategy for r in done} - set(methods))
    for m in methods:
        rs = sorted((r for r in done if r.config.strategy == m), key=lambda r: r.config.seed)
        acc = [r.metrics["target_accuracy"] for r in rs]
        pair = (rs[0].config.dataset, rs[0].config.target)
        rows.append(MethodSummary(
            m, [r.config.seed for r in rs], _mean(acc), statistics.stdev(acc) if len(acc) > 1 else 0.0,
            _mean([r.metrics["test_accuracy"] for r in rs]),
            _mean([r.metrics.get("a_distance_before", float("nan")) for r in rs]),
            _mean([r.metrics.get("a_distance_after", float("nan")) for r in rs]),
            _mean([r.seconds or 0.0 for r in rs]), PUBLISHED.get(pair, {}).get(m)))
    return rows


def gain(rows: Sequence[MethodSummary], method: str = "dann", baseline: str = "source_only") -> dict | None:
    """Points gained over the baseline, per seed present in both and as their mean, and the
    share of the source-only -> oracle gap closed (when an oracle ran)."""
    by = {r.method: r for r in rows}
    if method not in by or baseline not in by:
        return None
    a, b = by[method], by[baseline]
    out = {"points": (a.target_accuracy - b.target_accuracy) * 100, "seeds": sorted(set(a.seeds) & set(b.seeds))}
    if "target_oracle" in by:
        span = by["target_oracle"].target_accuracy - b.target_accuracy
        out["gap_closed"] = (a.target_accuracy - b.target_accuracy) / span if span > 1e-9 else float("nan")
    return out


def verdict(rows: Sequence[MethodSummary]) -> str:
    """One sentence on whether adaptation helped on this pair, honest when it did not."""
    lines = []
    for m in [r.method for r in rows if r.method in STRATEGIES and STRATEGIES.get(r.method).uses_unlabelled_target]:
        g = gain(rows, m)
        if g is None:
            continue
        name = STRATEGIES.get(m).title
        closed = g.get("gap_closed")
        tail = f", closing {closed:.0%} of the gap to the target oracle" if closed is not None and np.isfinite(closed) else ""
        n = len(g["seeds"])
        over = f"over {n} seed{'s' if n != 1 else ''}"
        if g["points"] >= 2:
            lines.append(f"{name} gained {g['points']:.1f} points of target accuracy over source-only ({over}){tail}.")
        elif g["points"] > -2:
            lines.append(f"{name} made no real difference here ({g['points']:+.1f} points {over}).")
        else:
            lines.append(f"{name} hurt here: {g['points']:+.1f} points against source-only ({over}).")
    return " ".join(lines)


def markdown_table(rows: Sequence[MethodSummary]) -> str:
    """The table the CLI prints and the README carries."""
    head = ("| method | target acc (ours, mean ± sd) | published | source test acc | "
            "A-distance before → after | s per run |\n|---|---|---|---|---|---|")
    body = []
    for r in rows:
        pub = f"{r.published:.4f}" if r.published is not None else "-"
        body.append(f"| {r.method} | {r.target_accuracy:.3f} ± {r.target_std:.3f} (n={len(r.seeds)}) | {pub} | "
                    f"{r.source_accuracy:.3f} | {r.a_distance_before:.2f} → {r.a_distance_after:.2f} | {r.seconds:.0f} |")
    return "\n".join([head, *body])


# -- recorded results --------------------------------------------------------------------
def results_dir():
    from tlcore.paths import ASSETS

    return ASSETS / "results"


def recorded_results() -> list[dict]:
    """Studies recorded with ``tlcore adapt --record FILE`` and shipped in
    ``assets/results/adapt_*.json``: each holds its title, command, date, machine, wall
    time, rows (``MethodSummary`` fields) and verdict, so the page shows numbers a real
    run produced, and says how to produce them again."""
    import json

    out = []
    for path in sorted(results_dir().glob("adapt_*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return out


# -- embeddings over epochs -------------------------------------------------------------
@dataclass
class Snapshot:
    """``features[domain]`` float32 ``[n, D]`` for one epoch; ``labels[domain]`` ``[n]``.
    Duck-types ``tlcore.pretrained_features.FeatureSet`` for ``tlcore.embed.fit_map``."""

    features: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]


def snapshot_sets(artifacts: dict) -> list[Snapshot]:
    """Per-epoch feature snapshots of a run (index 0: before training), or ``[]`` if the
    run stored none. Domains are named ``source`` and ``target`` as on the Embeddings page."""
    if "snapshots_test" not in artifacts or "snapshots_target" not in artifacts:
        return []
    feats = {"source": artifacts["snapshots_test"].float().numpy(),
             "target": artifacts["snapshots_target"].float().numpy()}
    labels = {}
    for d, split in (("source", "test"), ("target", "target")):
        y = artifacts.get(f"labels_{split}")
        idx = artifacts[f"snapshot_index_{split}"]
        labels[d] = y[idx].numpy() if y is not None else np.zeros(len(idx), np.int64)
    n = len(feats["source"])
    return [Snapshot({d: f[e] for d, f in feats.items()}, labels) for e in range(n)]
