"""Ranking candidate backbones by transferability scores, in seconds and without training.

Each backbone's pretrained features of the task's labelled training images (and, for LEEP
and NCE, its source head's predictions on them) go through the scores registered in
``tlcore.transfer.scores.SCORES``; the backbones are then ordered by one of them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from tlcore.config import RunConfig
from tlcore.models import Backbone, WeightsUnavailable
from tlcore.rundata import RunData, prepare
from tlcore.transfer.advice_types import BackboneScore
from tlcore.transfer.backbone_features import BLAS_THREADS, build_for, task_features
from tlcore.transfer.scores import SCORES


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
            bb = build_for(cfg, name)
        except (WeightsUnavailable, KeyError) as e:
            why = f"{name} cannot be built: {e}"
            out.append(BackboneScore(name, dict.fromkeys(scores), dict.fromkeys(scores, why), primary,
                                     None, time.perf_counter() - t0, 0.0, {}, False, 0, None, why))
            continue
        feats, labels, hit = task_features(cfg, bb, data, "train")
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
