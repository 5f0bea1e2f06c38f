"""The strategy advisor: predict which strategy and backbone will win, then check.

Classic guidance picks a transfer strategy from two things: how many labelled images the
target task has, and how close it is to the data the backbone was pretrained on. Here both
are measured rather than guessed:

- :func:`size` counts the labelled training images (``Size``, small / large).
- :func:`similarity` measures the proxy A-distance and MMD² between the backbone's
  pretrained features of held-out images of its *pretraining* dataset and of the task's
  images (``Similarity``, similar / dissimilar / unknown).
- :func:`score_backbones` ranks candidate backbones by transferability scores computed on
  cached pretrained features of the task's labelled training images (seconds, no training).
- :func:`advise` puts the task in a cell of the size x similarity grid, takes that cell's
  rule from ``RULES`` (a predicted ranking of strategies) and says why in one sentence.
- :func:`candidate_configs` gives the short runs that test the advice, and :func:`check`
  compares the predicted rankings with the finished runs: Kendall's tau and every pair the
  prediction got the wrong way round (both in ``tlcore.transfer.check``, re-exported here).

In this app "dataset" (``cfg.dataset``) is the task the user trains on, so it is the
*target* of transfer; the backbone's pretraining data is the source. ``cfg.target`` (a
shifted test domain) plays no part in the advice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from tlcore.config import RunConfig
from tlcore.data import load_dataset
from tlcore.features import cached_prefix, run_prefix
from tlcore.models import BACKBONES, Backbone, WeightsUnavailable, build_backbone
from tlcore.models.lab import read_card
from tlcore.models.pretrain import lab_split
from tlcore.names import domain_label
from tlcore.rundata import RunData, prepare
from tlcore.transfer.check import Check, Disagreement, RankingCheck, candidate_configs, check
from tlcore.transfer.domain import mmd2, proxy_a_distance
from tlcore.transfer.scores import SCORES

# -- thresholds ----------------------------------------------------------------------------

# Small vs large, in labelled training images per class (the scarcest class counts). VTAB-1k
# (Zhai et al. 2019) takes 1,000 training images per task as its low-data transfer regime:
# 100 per class at the 10 classes of every dataset in this lab. Per class, not in total,
# because a 2-class task with 500 images has more evidence per decision than a 100-class
# task with 1,000. The lab's default budget (10 per class) is small, "all images" is large.
SMALL_PER_CLASS = 100

# Similar vs dissimilar, on the proxy A-distance (0: a linear classifier cannot tell the
# domains apart, 2: it separates them perfectly; 1.55 is a domain-classifier error of 11%).
# Measured here (500 held-out pretraining images vs 600 task images, final 128-d features
# of lab_mnist, lab_fashion and lab_synth_digits; seeds 0 and 1, the shifts seed 0), the
# values fall in two groups with a gap between 1.47 and 1.67:
#   the pretraining data itself                   -0.10 .. 0.12
#   its class subsets (lab_fashion on F-MNIST A)   0.59 .. 0.65
#   mild shifts of it (lab_mnist: mnist:invert=1 0.40, rotate=1 0.82, blur=1 0.94,
#     scale=1 1.22, rotate=3 1.26, noise=1 1.47)
#   any other dataset (every pair of mnist, digits, synth_digits, mnist_m, fashion_mnist,
#     animals) and strong shifts (invert=5, noise=3, blur=3, contrast=3)   1.67 .. 2.00
# The line sits about midway in that gap. What it means: a linear probe on 128 features tells
# almost any two datasets apart (sklearn's 8x8 digits vs MNIST: 2.00), so "similar" here is
# "the pretraining distribution or a mild shift of it", stricter than the loose "similar
# task" of the classic guidance; ``check`` shows where that costs a correct prediction.
SIMILAR_BELOW = 1.55

SOURCE_SAMPLE = 500  # held-out pretraining images per similarity measurement
MAX_SCORE_IMAGES = 5000  # training images scored per backbone; beyond, a stratified sample

# Scores and distances run with one BLAS thread. On a 2-core machine that is also training
# (the app's worker, another session), OpenBLAS's threads wait for a busy core: measured
# here, the SVD at the heart of LogME took 2.6 s on 1000 x 128 features with 2 threads and
# 0.012 s with 1 (5000 x 1280: 23.7 s vs 2.3 s). On an idle machine one thread costs at
# most the speed-up of the extra cores, on a busy one it avoids a 10-200x slow-down.
BLAS_THREADS = 1


# -- the grid ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """One cell of the size x similarity grid: the strategy to use and the predicted order
    of the candidate strategies (best first)."""

    size: str
    similarity: str
    strategy: str
    ranking: tuple[str, ...]
    reason: str


# The classic rules, as the issue states them (fine-tune all for large targets, fine-tune
# some for small similar ones, frozen features for small shifted ones). Sources:
# - Yosinski et al. 2014 (NeurIPS), "How transferable are features in deep neural networks?":
#   copied layers that are fine-tuned keep or beat the accuracy of a network trained on the
#   target alone (AnB+), while copied layers that stay *frozen* lose more the more layers are
#   copied, and more still when the tasks are dissimilar (man-made vs natural classes).
# - CS231n notes, "Transfer Learning" (cs231n.github.io/transfer-learning): large + similar
#   -> fine-tune the full network; large + different -> train from scratch, but initialising
#   from pretrained weights and fine-tuning usually still helps. For small targets the notes
#   say *linear classifier* (similar) and *classifier on earlier activations* (different);
#   the table puts "fine-tune some" in the small + similar cell and frozen features
#   in the small + dissimilar cell instead. We follow the issue and let ``check`` test it.
RULES: dict[tuple[str, str], Rule] = {
    (r.size, r.similarity): r
    for r in (
        Rule("large", "similar", "finetune_all",
             ("finetune_all", "finetune_top", "feature_extraction", "scratch"),
             "enough labels to adapt every layer without overfitting, from features that "
             "already fit (CS231n: fine-tune through the full network)"),
        Rule("large", "dissimilar", "finetune_all",
             ("finetune_all", "scratch", "finetune_top", "feature_extraction"),
             "enough labels to re-learn what does not carry over, and a fine-tuned pretrained "
             "start still tends to help (Yosinski et al. 2014), though scratch may compete"),
        Rule("small", "similar", "finetune_top",
             ("finetune_top", "feature_extraction", "finetune_all", "scratch"),
             "too few labels to move every layer safely, but the top layers can adapt to a "
             "nearby task whose lower-level features already fit"),
        Rule("small", "dissimilar", "feature_extraction",
             ("feature_extraction", "finetune_top", "finetune_all", "scratch"),
             "too few labels to adapt layers to a large shift without overfitting, so keep "
             "the pretrained features fixed and train only a new head"),
    )
}


# -- results -------------------------------------------------------------------------------

@dataclass
class Size:
    """How much labelled training data the task has."""

    dataset: str
    images: int  # labelled training images
    per_class: dict[str, int]  # class name -> labelled training images
    min_per_class: int
    call: str  # "small" | "large"
    threshold: int  # small when min_per_class < threshold
    why: str


@dataclass
class Similarity:
    """How close the task's images are to the backbone's pretraining images, measured in the
    backbone's own pretrained feature space. ``a_distance``/``mmd2`` are None (and ``call``
    "unknown") when the pretraining data is not available offline."""

    backbone: str
    source_dataset: str | None  # the backbone's pretraining dataset (its lab card)
    dataset: str  # the task
    a_distance: float | None
    mmd2: float | None
    n_source: int
    n_target: int
    call: str  # "similar" | "dissimilar" | "unknown"
    threshold: float  # similar when a_distance < threshold
    why: str
    seconds: float


@dataclass
class BackboneScore:
    """Transferability scores of one backbone's pretrained features on the task's labelled
    training images. A score that cannot apply is None, with the reason in ``reasons``."""

    backbone: str
    scores: dict[str, float | None]
    reasons: dict[str, str]
    primary: str
    rank: int | None  # 1 = best by the primary score; None when it could not be computed
    seconds: float  # features (or reading them from the cache) plus every score
    feature_seconds: float
    score_seconds: dict[str, float]
    cached: bool  # the features came from the disk cache
    n_images: int
    feature_dim: int | None
    error: str | None = None  # the backbone could not be built at all (weights missing)

    @property
    def value(self) -> float | None:
        return self.scores.get(self.primary)


@dataclass
class Advice:
    """What :func:`advise` predicts: the cell, its rule (``strategy`` and the predicted
    strategy order), the backbone order by ``primary``, and the measured ``reason``."""

    config: RunConfig  # the task as asked about
    backbone: str  # the backbone the strategy advice is for
    size: Size
    similarity: Similarity
    cell: tuple[str, str]  # (size call, similarity column used)
    rule: Rule
    backbone_scores: list[BackboneScore]  # best first
    primary: str
    reason: str

    @property
    def strategy(self) -> str:
        return self.rule.strategy

    @property
    def predicted_strategies(self) -> tuple[str, ...]:
        return self.rule.ranking

    @property
    def predicted_backbones(self) -> tuple[str, ...]:
        return tuple(b.backbone for b in self.backbone_scores if b.rank is not None)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["config"] = self.config.to_dict()
        d.update(strategy=self.strategy, predicted_strategies=list(self.predicted_strategies),
                 predicted_backbones=list(self.predicted_backbones))
        return d


# -- features ------------------------------------------------------------------------------

def _build(cfg: RunConfig, name: str) -> Backbone:
    """``name`` with its pretrained default weights, or ``cfg``'s weights and size if it is
    ``cfg``'s backbone. The head is the pretrained (source-task) classifier."""
    own = name == cfg.backbone
    return build_backbone(name, weights=cfg.weights if own else None,
                          input_size=cfg.input_size if own else None)


def _cached_features(bb: Backbone, images: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Pretrained features ``[N, D]`` of uint8 ``images [N, C, H, W]``; (features, cache hit).

    The disk-cache key is the content: the weights files, the preprocessing and a sha256 of
    the image bytes. Keys made of names (dataset, seed, budget) go stale when a split rule or
    a loader changes under the same names (it happened while this was written: the
    trainer's key now carries a hand-bumped ``SPLIT_RULE``); hashing a few MB of uint8
    pixels costs milliseconds and cannot. Randomly initialised weights are never cached.
    """
    net = bb.net.eval()
    key = None
    if bb.weights.pretrained:
        pixels = hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest()
        key = {"advisor": 1, "backbone": bb.spec.name, "weights": bb.provenance.files,
               "preprocess": dataclasses.asdict(bb.preprocess), "images": pixels,
               "shape": list(images.shape), "cut": len(net.stages)}
    computed = []

    def compute() -> torch.Tensor:
        computed.append(True)
        return run_prefix(net, bb.preprocess(images), len(net.stages))

    return cached_prefix(key, compute), not computed


def _train_index(cfg: RunConfig, data: RunData) -> torch.Tensor:
    """The task's labelled training indices, or a stratified sample of ``MAX_SCORE_IMAGES``
    of them (seeded by ``cfg.seed``) when there are more."""
    train = data.splits.train
    if len(train) <= MAX_SCORE_IMAGES:
        return train
    labels = data.source.labels[train].numpy()
    rng = np.random.default_rng(cfg.seed)
    per = MAX_SCORE_IMAGES // data.num_classes
    keep = [rng.permutation(np.flatnonzero(labels == c))[:per] for c in range(data.num_classes)]
    return train[torch.from_numpy(np.sort(np.concatenate(keep)))]


def _task_features(cfg: RunConfig, bb: Backbone, data: RunData,
                   split: str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Pretrained features and labels of the task's ``"train"`` (at most
    ``MAX_SCORE_IMAGES``) or ``"test"`` split; (features [N, D], labels [N], cache hit)."""
    index = _train_index(cfg, data) if split == "train" else data.splits.test
    feats, hit = _cached_features(bb, data.source.images[index])
    return feats, data.source.labels[index], hit


# -- scores --------------------------------------------------------------------------------

def _source_probs(bb: Backbone, feats: torch.Tensor) -> tuple[np.ndarray | None, str]:
    """Softmax of the pretrained (source-task) head on the features; (None, why) if the
    backbone has no head trained on a source task."""
    n_source = bb.weights.num_classes
    if not bb.weights.pretrained:
        return None, "a randomly initialised head has no source task"
    if n_source is None or bb.net.head.out_features != n_source:
        return None, f"{bb.spec.name} has no usable source-task classifier head"
    with torch.no_grad():
        probs = torch.softmax(bb.net.head(feats).double(), dim=1)
    return probs.numpy(), ""


def score_backbones(cfg: RunConfig, backbones: Sequence[str],
                    scores: Sequence[str] = ("logme", "leep", "nce", "h_score"),
                    primary: str = "logme", data: RunData | None = None) -> list[BackboneScore]:
    """Transferability scores of each candidate backbone on ``cfg``'s task, best first.

    Each backbone is built with its pretrained default weights (``cfg.weights`` and
    ``cfg.input_size`` apply only to ``cfg.backbone``), and its pretrained features of the
    task's labelled training images (``prepare(cfg).splits.train``, at most
    ``MAX_SCORE_IMAGES``) are computed once and cached on disk, keyed by their content.
    LEEP and NCE use the backbone's own pretrained head (the source classifier); H-score is
    None when there are no more images than feature dimensions, where it equals C - 1 for
    any features. A backbone whose weights are missing gets every score None and ``error``.
    Backbones are ranked by ``primary`` (best first); those without it come last.
    """
    for s in (*scores, primary):
        SCORES.get(s)  # a typo fails here, naming the known scores
    if primary not in scores:
        scores = (*scores, primary)
    data = data or prepare(cfg)
    out = []
    for name in backbones:
        t0 = time.perf_counter()
        try:
            bb = _build(cfg, name)
        except (WeightsUnavailable, KeyError) as e:
            why = f"{name} cannot be built: {e}"
            out.append(BackboneScore(name, dict.fromkeys(scores), dict.fromkeys(scores, why), primary,
                                     None, time.perf_counter() - t0, 0.0, {}, False, 0, None, why))
            continue
        feats, labels, hit = _task_features(cfg, bb, data, "train")
        t_feat = time.perf_counter() - t0
        y = labels.numpy()
        x = feats.double().numpy()
        probs, no_probs = _source_probs(bb, feats) if any(
            SCORES.get(s).needs == "source_probs" for s in scores) else (None, "")
        with threadpool_limits(BLAS_THREADS, user_api="blas"):
            values, reasons, timing = _score_all(scores, x, probs, no_probs, y)
        out.append(BackboneScore(name, values, reasons, primary, None, time.perf_counter() - t0,
                                 t_feat, timing, hit, len(x), x.shape[1]))
    sign = -1.0 if SCORES.get(primary).higher_is_better else 1.0
    ranked = sorted((b for b in out if b.value is not None), key=lambda b: sign * b.value)
    for i, b in enumerate(ranked, 1):
        b.rank = i
    return ranked + [b for b in out if b.rank is None]


def _score_all(scores: Sequence[str], x: np.ndarray, probs: np.ndarray | None, no_probs: str,
               y: np.ndarray) -> tuple[dict[str, float | None], dict[str, str], dict[str, float]]:
    """(values, reasons a value is None, seconds) of each score on features ``x [N, D]`` and
    source probabilities ``probs [N, Z]`` (None: ``no_probs`` says why), labels ``y [N]``."""
    values: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for s in scores:
        info = SCORES.get(s)
        inputs = x if info.needs == "features" else probs
        if inputs is None:
            values[s], reasons[s] = None, no_probs
            continue
        if s == "h_score" and len(x) <= x.shape[1]:
            values[s] = None
            reasons[s] = (f"{len(x)} images for {x.shape[1]} feature dimensions: with N <= D "
                          "the H-score is C - 1 for any features, so it cannot rank them")
            continue
        t0 = time.perf_counter()
        v = info.fn(inputs, y)
        seconds[s] = time.perf_counter() - t0
        if np.isfinite(v):
            values[s] = float(v)
        else:
            values[s], reasons[s] = None, f"{s} is not finite on these features"
    return values, reasons, seconds


# -- size and similarity -------------------------------------------------------------------

def size(cfg: RunConfig, data: RunData | None = None, threshold: int = SMALL_PER_CLASS) -> Size:
    """Labelled training images of ``cfg``'s task, and small / large by ``threshold`` per class."""
    data = data or prepare(cfg)
    counts = torch.bincount(data.source.labels[data.splits.train], minlength=data.num_classes)
    per_class = {str(n): int(c) for n, c in zip(data.source.class_names, counts, strict=True)}
    low = int(counts.min())
    call = "small" if low < threshold else "large"
    why = (f"{low} labelled images in the scarcest class, {'under' if call == 'small' else 'at least'} "
           f"{threshold} per class (VTAB-1k's low-data regime: 1,000 images for ~10 classes)")
    return Size(data.source.name, len(data.splits.train), per_class, low, call, threshold, why)


def pretraining_dataset(backbone: str) -> str | None:
    """The dataset ``backbone`` was pretrained on if it can be loaded offline (the lab zoo's
    model card), else None (ImageNet backbones: ImageNet is not shipped)."""
    spec = BACKBONES.get(backbone)
    if "lab" not in spec.tags:
        return None
    try:
        return read_card(backbone)["dataset"]
    except (OSError, KeyError):
        return None


def _source_features(bb: Backbone, dataset: str, n: int, seed: int) -> tuple[torch.Tensor, bool]:
    """Features of ``n`` held-out images of the pretraining dataset (the part the zoo model
    was *not* trained on: ``lab_split``'s test part), sampled by ``seed``. Held-out, because
    features of memorised training images are not what the pretraining distribution looks
    like to the network."""
    ds = load_dataset(dataset)
    _, held_out = lab_split(ds)
    rng = np.random.default_rng(seed)
    pick = held_out[torch.from_numpy(np.sort(rng.permutation(len(held_out))[:n]))]
    return _cached_features(bb, ds.images[pick])


def similarity(cfg: RunConfig, data: RunData | None = None, threshold: float = SIMILAR_BELOW,
               n_source: int = SOURCE_SAMPLE) -> Similarity:
    """Proxy A-distance and MMD² between ``cfg.backbone``'s pretraining images and the task's
    images (training and test splits), both in the backbone's pretrained feature space.

    "similar" when the A-distance is under ``threshold``. For a backbone whose pretraining
    data is not available offline (ImageNet) nothing is measured and the call is "unknown":
    a stand-in dataset would measure the distance to the stand-in, not to ImageNet, and a
    transferability score is not a distance (it is already used to rank the backbones).
    """
    t0 = time.perf_counter()
    data = data or prepare(cfg)
    source = pretraining_dataset(cfg.backbone) if cfg.weights != "none" else None
    task = data.source.name
    if source is None:
        why = (f"{cfg.backbone}'s pretraining data is not available offline, so its distance to "
               f"{task} cannot be measured" if cfg.weights != "none" else
               f"{cfg.backbone} with random weights has no pretraining data to be close to")
        return Similarity(cfg.backbone, None, task, None, None, 0, 0, "unknown", threshold, why,
                          time.perf_counter() - t0)
    bb = _build(cfg, cfg.backbone)
    fs, _ = _source_features(bb, source, n_source, cfg.seed)
    ft = torch.cat([_task_features(cfg, bb, data, s)[0] for s in ("train", "test")])
    with threadpool_limits(BLAS_THREADS, user_api="blas"):
        pad = proxy_a_distance(fs.numpy(), ft.numpy(), seed=cfg.seed)
        m2 = mmd2(fs.numpy(), ft.numpy(), seed=cfg.seed)
    call = "similar" if pad < threshold else "dissimilar"
    why = (f"proxy A-distance {pad:.2f} between {len(fs)} held-out {source} images and "
           f"{len(ft)} {task} images in {cfg.backbone}'s features, "
           f"{'under' if call == 'similar' else 'at least'} {threshold:g}")
    return Similarity(cfg.backbone, source, task, pad, m2, len(fs), len(ft), call, threshold, why,
                      time.perf_counter() - t0)


# -- advice --------------------------------------------------------------------------------

def rule_for(size_call: str, similarity_call: str) -> Rule:
    """The grid's rule; an "unknown" similarity uses the dissimilar column (see ``advise``)."""
    column = "dissimilar" if similarity_call == "unknown" else similarity_call
    return RULES[(size_call, column)]


def advise(cfg: RunConfig, backbones: Sequence[str] | None = None, *, primary: str = "logme",
           backbone: str | None = None) -> Advice:
    """Grid cell, recommended strategy, predicted rankings and the reason, for ``cfg``'s task.

    ``backbones`` (default: ``cfg.backbone`` alone) are ranked by ``primary``; the strategy
    advice is for ``backbone`` (default: the best-ranked one, else ``cfg.backbone``), whose
    pretraining data sets the similarity. An unknown similarity is treated as dissimilar:
    the conservative column, whose rules never lean on features the task may not share.
    """
    data = prepare(cfg)
    ranked = score_backbones(cfg, backbones or (cfg.backbone,), primary=primary, data=data)
    chosen = backbone or next((b.backbone for b in ranked if b.rank == 1), cfg.backbone)
    bcfg = cfg if chosen == cfg.backbone else cfg.replace(backbone=chosen, weights=None, input_size=None)
    sz = size(cfg, data)
    sim = similarity(bcfg, data)
    rule = rule_for(sz.call, sim.call)
    if sim.a_distance is not None:
        where = (f"a proxy A-distance of {sim.a_distance:.2f} to {chosen}'s {sim.source_dataset} "
                 f"pretraining images ({sim.call}: the line is {sim.threshold:g})")
    else:
        where = f"an unknown distance to {chosen}'s pretraining data (taken as dissimilar)"
    top = next((b for b in ranked if b.rank == 1), None)
    ranking = (f"; {top.backbone} ranks first of {len(ranked)} backbones by {primary} "
               f"({top.value:.3f})" if top is not None and len(ranked) > 1 else "")
    reason = (f"{sz.images} labelled images ({sz.min_per_class} per class: {sz.call}, the line is "
              f"{sz.threshold}) and {where} put {domain_label(sz.dataset)} in the {rule.size} x {rule.similarity} "
              f"cell, so {rule.strategy}: {rule.reason}{ranking}.")
    return Advice(cfg, chosen, sz, sim, (rule.size, rule.similarity), rule, ranked, primary, reason)


__all__ = [
    "MAX_SCORE_IMAGES", "RULES", "SIMILAR_BELOW", "SMALL_PER_CLASS", "SOURCE_SAMPLE", "Advice",
    "BackboneScore", "Check", "Disagreement", "RankingCheck", "Rule", "Similarity", "Size",
    "advise", "candidate_configs", "check", "pretraining_dataset", "rule_for", "score_backbones",
    "similarity", "size",
]
