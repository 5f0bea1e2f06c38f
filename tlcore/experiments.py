"""Two classic transfer experiments as grids of ordinary runs, and their summaries.

**Label budget.** How many labels per class does a strategy need? ``budget_configs``
sweeps the budget k for scratch, feature extraction and full fine-tuning over seeds;
``budget_summary`` gives each strategy's test accuracy against k (mean and min/max over
seeds), ``crossover`` says from which k one strategy stays ahead of another and
``budget_verdict`` says it in words (with the chart's marker) for fine-tuning vs frozen
features, as ``yosinski_verdict`` does for the Yosinski grid.

**Yosinski et al. 2014.** "How transferable are features in deep neural networks?"
(NeurIPS 2014): copy the first n layers of a network trained on task A (or on B itself),
re-initialise the rest, train on B, with the copied layers frozen or fine-tuned (the
``transplant`` strategy explains the four arms AnB, AnB+, BnB, BnB+). Here A and B are
the two halves of Fashion-MNIST (classes 0-4 and 5-9, the lab zoo's ``lab_fashion_a``
and ``lab_fashion_b``) and the network is the lab ResNet with 4 body groups, so n runs
0..4 where the paper's AlexNet ran 0..7; ``depth_fraction`` puts both on one axis.

Everything here is a pure function from configs or records to configs or summaries: the
runs themselves go through the store like any other run (``tlcore budget`` and
``tlcore yosinski`` in the CLI), so a finished point is never trained twice.

BnB / BnB+ copy ``lab_fashion_b``, pretrained on fashion_mnist_b's official training
images; runs are scored on its official test images only (``tlcore.rundata``), so the
selffer arms are not scored on what they pretrained on. (Before that rule, 289 of the 500
test images at the defaults below were pretraining images.) Unlike the paper's selffer
network, ``lab_fashion_b`` saw all of B's training images, not just the run's labels, so
BnB can rise with n where the paper's dipped.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tlcore.compare import CLASSIC, group_by_seed
from tlcore.config import RunConfig
from tlcore.runs import RunRecord
from tlcore.strategies import STRATEGIES

METRIC = "test_accuracy"

# -- label budget -------------------------------------------------------------------------
BUDGET_KS = (1, 5, 10, 25, 50, 100)

# Transfer between the Fashion-MNIST halves: the A weights never saw a B image, and
# fashion_mnist_b has 7,000 images per class, so every k up to thousands fits. lr 3e-3
# (not the head-only default 1e-2) because scratch and fine-tuning train whole networks
# here; 8 epochs at batch 16 are 32 steps at k=10 and 256 at k=100. Measured on this
# project's shared 2-core CPU (1 torch thread, load ~6): at k=100 scratch and finetune_all
# took 13 s a run, feature extraction 1 s (its backbone output is cached); cost grows with
# k, so the default grid (6 budgets x 3 strategies x 3 seeds) is a few minutes.
BUDGET_BASE = RunConfig(
    backbone="lab_fashion_a", dataset="fashion_mnist_b", labels_per_class=10,
    val_per_class=10, test_per_class=100, epochs=8, batch_size=16, lr=3e-3,
)


def max_labels_per_class(base: RunConfig) -> int:
    """The largest budget k ``base``'s dataset allows after its validation and test images
    per class are set aside (loads the dataset, which is cached after the first call)."""
    from tlcore.data import load_domain

    ds = load_domain(base.dataset, seed=base.seed)
    return max(0, min(ds.class_counts()) - base.val_per_class - base.test_per_class)


def fit_ks(base: RunConfig, ks: Iterable[int]) -> tuple[list[int], list[int], int]:
    """(budgets that fit, budgets that do not, the largest that would): sorted, unique."""
    ks = sorted(set(ks))
    if any(k < 1 for k in ks):
        raise ValueError(f"label budgets must be at least 1 per class; got {ks}")
    cap = max_labels_per_class(base)
    return [k for k in ks if k <= cap], [k for k in ks if k > cap], cap


def budget_configs(base: RunConfig = BUDGET_BASE, ks: Sequence[int] = BUDGET_KS,
                   strategies: Sequence[str] = CLASSIC, seeds: Sequence[int] = (0, 1, 2)) -> list[RunConfig]:
    """Every seed x strategy x budget k on ``base`` (``labels_per_class`` = k).

    Raises ``ValueError`` naming the budgets that do not fit the dataset and the largest
    that does (use ``fit_ks`` first to drop them instead)."""
    fit, too_big, cap = fit_ks(base, ks)
    if too_big:
        raise ValueError(f"{base.dataset} allows at most {cap} labels per class after {base.val_per_class} "
                         f"validation and {base.test_per_class} test images per class; "
                         f"drop k = {', '.join(map(str, too_big))}")
    return [base.replace(strategy=s, labels_per_class=k, seed=seed)
            for seed in seeds for s in strategies for k in fit]


def _cells(records: Iterable[RunRecord], key) -> dict:
    """Finished records grouped by seed, keyed by ``key(config)`` (None: not part of it).

    Two seed groups under one key means records from different settings were mixed."""
    cells: dict = {}
    done = [r for r in records if r.status == "done" and METRIC in r.metrics]
    for g in group_by_seed(done):
        k = key(g.config)
        if k is None:
            continue
        if k in cells:
            raise ValueError(f"records for {k} come from different settings (e.g. epochs or data); "
                             "summarise one experiment at a time")
        cells[k] = g
    return cells


def _stats(vals: list[float]) -> dict:
    return {"mean": statistics.mean(vals), "lo": min(vals), "hi": max(vals),
            "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n_seeds": len(vals)}


def _curve(points: list[tuple[int, list[float]]], x: str) -> dict:
    out: dict = {x: [], "mean": [], "lo": [], "hi": [], "sd": [], "n_seeds": []}
    for xv, vals in sorted(points):
        out[x].append(xv)
        for name, v in _stats(vals).items():
            out[name].append(v)
    return out


def budget_summary(records: Iterable[RunRecord]) -> dict[str, dict]:
    """Per strategy: ``{"k": [...], "mean", "lo", "hi", "sd", "n_seeds": [...]}`` of test accuracy
    over seeds, k ascending. ``lo``/``hi`` are the min and max over seeds (the band the
    Compare page draws); ``sd`` the sample standard deviation (0 for one seed). Only
    finished runs count; mixing records from two settings raises ``ValueError``."""
    cells = _cells(records, lambda c: (c.strategy, c.labels_per_class))
    out: dict[str, list] = {}
    for (strategy, k), g in cells.items():
        out.setdefault(strategy, []).append((k, [r.metrics[METRIC] for r in g.runs]))
    order = [s for s in CLASSIC if s in out] + sorted(set(out) - set(CLASSIC))
    return {s: _curve(out[s], "k") for s in order}


def crossover(summary: dict[str, dict], a: str, b: str) -> int | None:
    """The smallest budget k from which ``b``'s mean accuracy is above ``a``'s at that k
    and at every larger k both were run at; None if ``b`` is not above ``a`` at the
    largest common k. A single crossing (b behind, then ahead for good) reads "b overtakes
    a from k"; b ahead everywhere returns the smallest k."""
    ka, kb = summary[a], summary[b]
    ma, mb = dict(zip(ka["k"], ka["mean"], strict=True)), dict(zip(kb["k"], kb["mean"], strict=True))
    common = sorted(set(ma) & set(mb))
    found = None
    for k in reversed(common):
        if mb[k] > ma[k]:
            found = k
        else:
            break
    return found


@dataclass(frozen=True)
class BudgetVerdict:
    """What a finished label-budget sweep says about frozen features vs fine-tuning:
    ``headline`` ("Crossover" or "No crossover here") and ``text`` (the sentence after it),
    and ``marker``, the chart's ``(k, label)`` line at the crossover (None: nothing to mark)."""

    headline: str
    text: str
    marker: tuple[int, str] | None = None


def budget_verdict(summary: dict[str, dict]) -> BudgetVerdict | None:
    """Where fine-tuning all layers overtakes feature extraction in a ``budget_summary``:
    from some k on (a crossover, marked on the chart), never (not ahead at the largest
    budget run), or at every budget (nothing to mark). None when either is missing."""
    frozen, tuned = "feature_extraction", "finetune_all"
    if not {frozen, tuned} <= set(summary):
        return None
    k = crossover(summary, frozen, tuned)
    if k is None:
        return BudgetVerdict("No crossover here", "fine-tuning is not ahead of feature extraction at the "
                             "largest budget run. Try larger k, or a backbone pretrained on a less similar task.")
    if k == min(summary[tuned]["k"]):
        return BudgetVerdict("No crossover here", "fine-tuning all layers beats feature extraction at every "
                             "budget run (mean over seeds; the bands show min to max). The frozen features do "
                             "not fit this task well enough to win even with few labels.")
    return BudgetVerdict("Crossover", f"from k = {k} labelled images per class on, fine-tuning all layers "
                         "beats feature extraction (mean over seeds; the bands show min to max).",
                         marker=(k, f"fine-tuning ahead from k={k}"))


# -- Yosinski et al. 2014 -----------------------------------------------------------------
YOSINSKI_TARGET = "fashion_mnist_b"
# arm -> (backbone the groups are copied from, frozen_copy)
ARMS: dict[str, tuple[str, int]] = {
    "AnB": ("lab_fashion_a", 1), "AnB+": ("lab_fashion_a", 0),
    "BnB": ("lab_fashion_b", 1), "BnB+": ("lab_fashion_b", 0),
}

# Measured on this project's 2-core CPU, shared with other work (load ~7, 1 torch thread),
# seed 0: a point that trains the whole net (n=0, or a fine-tuned arm) took 10-13 s; a
# frozen copy less (AnB n=1..4: 11, 5, 4, 0.3 s) because the trainer caches the copied
# prefix; the 17 runs of the default grid took 148 s in all. Why 100 labels per class
# (500 images): the paper's B had plenty of data, so its base network was strong and a
# frozen copy had to earn its place. Here, with 5 epochs, the fresh network (n=0, the
# paper's "base B") reaches 0.93 at 100 per class but only 0.50 at 10 or 30, where AnB at
# n=3 wins by 22 and 40 points (0.72, 0.90): that measures "too few labels", not how
# general each group is. 5 epochs at batch 32 (80 steps) and Adam 3e-3 get the fresh net
# there; every trained group uses that one LR, as in the paper.
YOSINSKI_BASE = RunConfig(
    backbone="lab_fashion_a", dataset=YOSINSKI_TARGET, strategy="transplant",
    labels_per_class=100, val_per_class=20, test_per_class=100, epochs=5, batch_size=32,
    lr=3e-3, bn_policy="frozen",
)

YOSINSKI_PAPER = {
    "citation": "Yosinski, Clune, Bengio, Lipson. How transferable are features in deep neural "
                "networks? NeurIPS 2014",
    "setting": "ImageNet split into two halves of 500 classes each; 8-layer AlexNet-style network "
               "(layers 1-7 can be copied, layer 8 is the new classifier); top-1 accuracy on B. "
               "Not our data or network: compare shapes on the depth axis, not the numbers.",
    "total": 7,
    "points": [
        {"arm": "base", "n": 0, "top1": 0.625, "note": "base B: the network trained on B alone"},
        {"arm": "AnB", "n": 7, "top1": 0.543, "note": "AnB falls as n grows when the tasks differ"},
        {"arm": "AnB+", "n": None, "top1": 0.645, "note": "about this level at every n: at or above base"},
    ],
}


def paper_text() -> str:
    """The paper's numbers in one line, labelled as what they are."""
    p = YOSINSKI_PAPER
    pts = []
    for q in p["points"]:
        where = (" at every n" if q["n"] is None else " (n=0)" if q["n"] == 0
                 else f" at n={q['n']} (depth {depth_fraction(q['n'], p['total']):.2f})")
        pts.append(f"{q['arm']} {q['top1']:.3f}{where}")
    return f"paper ({p['citation']}; ImageNet, 8-layer AlexNet, n of {p['total']}): " + "; ".join(pts)


def depth_fraction(n: int, total: int) -> float:
    """How deep the cut is, as the share of copyable layers copied: 0 = nothing, 1 = all.
    The paper's n=7 of 7 and our n=4 of 4 both sit at 1.0."""
    if total < 1 or not 0 <= n <= total:
        raise ValueError(f"n must be in 0..{total} (total >= 1); got n={n}, total={total}")
    return n / total


def body_groups(backbone: str = "lab_fashion_a") -> list[str]:
    """The copyable groups of ``backbone`` (everything but the head), without its weights."""
    from tlcore.models import build_backbone
    from tlcore.strategies.base import body

    return body(build_backbone(backbone, weights="none").net.group_names)


def yosinski_configs(cuts: Sequence[int] | None = None, seeds: Sequence[int] = (0,),
                     epochs: int = YOSINSKI_BASE.epochs,
                     labels_per_class: int = YOSINSKI_BASE.labels_per_class,
                     base: RunConfig = YOSINSKI_BASE) -> list[RunConfig]:
    """The four arms at every cut n (default 0..number of body groups) and seed.

    n=0 copies nothing, so the four arms are the same experiment there: one fresh network
    trained on B. It is run once per seed as the ``scratch`` strategy (the paper's "base
    B"; it shares its run id with any other scratch run at these settings) and the summary
    puts it at n=0 of every arm. Other cuts run ``transplant`` with ``cut`` = n."""
    total = len(body_groups(base.backbone))
    cuts = list(range(total + 1)) if cuts is None else sorted(set(cuts))
    bad = [n for n in cuts if not 0 <= n <= total]
    if bad:
        raise ValueError(f"cuts must be in 0..{total} (the lab net has {total} body groups); got {bad}")
    base = base.replace(epochs=epochs, labels_per_class=labels_per_class, dataset=YOSINSKI_TARGET)
    out = []
    for seed in seeds:
        if 0 in cuts:
            out.append(base.replace(strategy="scratch", backbone=ARMS["BnB"][0], extra=(), seed=seed))
        for backbone, frozen in ARMS.values():
            # both knobs spelled out, even at their defaults: the recorded runs keep their ids
            out += [base.replace(backbone=backbone, seed=seed,
                                 extra=(("cut", float(n)), ("frozen_copy", float(frozen))))
                    for n in cuts if n > 0]
    return out


def arm_of(cfg: RunConfig) -> tuple[str, int] | None:
    """(arm, n) of a Yosinski run (arm "base" for the n=0 scratch run), else None."""
    if cfg.dataset != YOSINSKI_TARGET:
        return None
    if cfg.strategy == "scratch":
        return "base", 0
    if cfg.strategy != "transplant":
        return None
    transplant = STRATEGIES.get("transplant")  # its knobs, with their declared defaults
    frozen = int(transplant.knob("frozen_copy").raw(cfg))
    for arm, (backbone, f) in ARMS.items():
        if backbone == cfg.backbone and f == frozen:
            return arm, int(transplant.knob("cut").raw(cfg))
    return None


def yosinski_summary(records: Iterable[RunRecord]) -> dict:
    """Per arm, test accuracy against n over seeds: ``{"total": groups, "base": stats of the
    n=0 run or None, "arms": {arm: {"n", "depth", "mean", "lo", "hi", "sd", "n_seeds"}}}``.
    Each arm's curve starts with the shared n=0 point when it was run; ``lo``/``hi`` are
    the min/max over seeds. Records that are not Yosinski runs are ignored."""
    cells = _cells(records, arm_of)
    base = cells.get(("base", 0))
    base_vals = [r.metrics[METRIC] for r in base.runs] if base else None
    total = len(body_groups())
    arms = {}
    for arm in ARMS:
        points = [(n, [r.metrics[METRIC] for r in g.runs]) for (a, n), g in cells.items() if a == arm]
        if base_vals is not None and points:
            points.append((0, base_vals))
        if not points:
            continue
        c = _curve(points, "n")
        c["depth"] = [depth_fraction(n, total) for n in c["n"]]
        arms[arm] = c
    return {"total": total, "base": _stats(base_vals) if base_vals else None, "arms": arms}


def yosinski_verdict(summary: dict, tol: float = 0.01) -> str:
    """Plain sentences on whether the paper's two headline shapes appear in ``summary``:
    AnB falls below base as n grows (and from where); AnB+ stays at or above base. "Below"
    means more than ``tol`` (accuracy, 0.01 = one point) under the base's mean."""
    base, arms = summary.get("base"), summary["arms"]
    if base is None:
        return "No n=0 (base) run in these records: nothing to compare the arms against."
    b = base["mean"]
    out = []
    if "AnB" in arms:
        pts = [(n, y) for n, y in zip(arms["AnB"]["n"], arms["AnB"]["mean"], strict=True) if n > 0]
        if pts and pts[-1][1] < b - tol:
            deepest, last = pts[-1]
            first = deepest  # the cut from which AnB stays below base
            for n, y in reversed(pts):
                if y >= b - tol:
                    break
                first = n
            held = [n for n, _ in pts if n < first]
            where = (f"holds base up to n={held[-1]}, then " if held else "")
            shape = ("only at the deepest cut; in the paper it fell gradually from the middle layers on"
                     if first == deepest and held else "falling with depth, as in the paper")
            out.append(f"AnB {where}falls {100 * (b - last):.1f} points below base by n={deepest} "
                       f"({last:.3f} vs {b:.3f}): {shape}.")
        elif pts:
            out.append(f"AnB does not fall below base here (n={pts[-1][0]}: {pts[-1][1]:.3f} vs {b:.3f}): "
                       "the paper's specificity drop does not appear.")
    if "AnB+" in arms:
        plus = [(n, y) for n, y in zip(arms["AnB+"]["n"], arms["AnB+"]["mean"], strict=True) if n > 0]
        below = [(n, y) for n, y in plus if y < b - tol]
        if plus and not below:
            out.append(f"AnB+ stays at or above base at every n (min {min(y for _, y in plus):.3f} vs {b:.3f}), "
                       "as in the paper.")
        elif below:
            out.append("AnB+ falls below base at n=" + ", ".join(f"{n} ({y:.3f})" for n, y in below)
                       + f" (base {b:.3f}), unlike the paper.")
    return " ".join(out)
