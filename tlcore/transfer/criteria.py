"""Label-free validation of a domain-adaptation run: scores that need no target labels.

In real use a target domain comes without labels, so "did adaptation help?" cannot be read
off target accuracy. These published criteria score a trained run from what is available:
labelled *source* validation images and *unlabelled* target images.

- ``source_val_accuracy``: the naive baseline (higher is better). It ignores the target,
  so it cannot see adaptation hurt there.
- ``target_entropy``: the mean entropy of the predictions on target images (lower is
  better; Morerio, Cavazza and Murino, ICLR 2018, used it to pick adaptation settings).
  Confidently wrong predictions fool it.
- ``snd``: soft neighbourhood density (Saito, Kim, Teterwak, Sclaroff, Darrell and
  Saenko, ICCV 2021; higher is better): with L2-normalised target predictions ``F``,
  ``P = row-softmax(F F^T / tau)`` over the other samples (the diagonal excluded),
  ``SND = mean_i H(P_i)``, ``tau = 0.05`` as in the paper. Dense neighbourhoods of
  similar predictions (tight clusters) score high. So does a collapse of every target
  image onto one class, the criterion's known blind spot: read it beside the others.
- ``dev``: deep embedded validation (You, Wang, Chen, Long and Wang, ICML 2019; lower is
  better): the source validation loss weighted by the density ratio ``w = p_t(x) / p_s(x)``
  of the features, estimated by a domain classifier, with the control variate of their
  eq. 9: ``DEV = mean(w l) + eta mean(w) - eta``, ``eta = -Cov(w l, w) / Var(w)``.
  Here the domain classifier is a logistic regression on standardised features of the
  source validation and target images, cross-fitted over two folds (each image's ratio
  comes from a classifier that did not see it); the paper trains it on source training
  features, which a run does not keep.

The target images are the run's target test split *without* its labels: the criteria
never read a target label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from tlcore.registry import Registry

SND_TAU = 0.05
MAX_SND = 1000  # target samples in the O(N^2) similarity matrix; beyond, a seeded sample
EPS = 1e-12


@dataclass(frozen=True)
class CriterionInfo:
    name: str
    title: str
    higher_is_better: bool
    description: str


CRITERIA: Registry[CriterionInfo] = Registry("label-free criterion")
for _c in (
    CriterionInfo("source_val_accuracy", "Source validation accuracy", True,
                  "accuracy on labelled source validation images: the naive baseline"),
    CriterionInfo("target_entropy", "Target entropy", False,
                  "mean entropy of the predictions on target images (Morerio et al. 2018)"),
    CriterionInfo("snd", "SND", True,
                  "soft neighbourhood density of target predictions (Saito et al. 2021)"),
    CriterionInfo("dev", "DEV", False,
                  "source validation loss weighted by the target/source density ratio (You et al. 2019)"),
):
    CRITERIA.add(_c)
del _c


def entropy(probs: np.ndarray) -> np.ndarray:
    """Per-row entropy (nats) of probabilities ``[N, C]``."""
    p = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1.0)
    return -(p * np.log(p)).sum(1)


def target_entropy(probs_t: np.ndarray) -> float:
    return float(entropy(probs_t).mean())


def snd(probs_t: np.ndarray, tau: float = SND_TAU, seed: int = 0) -> float:
    """Soft neighbourhood density of target predictions ``[N, C]`` (see the module docstring)."""
    f = np.asarray(probs_t, dtype=np.float64)
    if len(f) > MAX_SND:
        f = f[np.random.default_rng(seed).choice(len(f), MAX_SND, replace=False)]
    if len(f) < 2:
        return float("nan")
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), EPS)
    s = f @ f.T / tau
    np.fill_diagonal(s, -np.inf)
    s = s - s.max(1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(1, keepdims=True)
    return float(entropy(p).mean())


def control_variate(weights: np.ndarray, losses: np.ndarray) -> float:
    """DEV's risk from per-sample density ratios and losses (You et al. 2019, eq. 9)."""
    w, wl = np.asarray(weights, dtype=np.float64), np.asarray(weights, dtype=np.float64) * losses
    var = w.var(ddof=1) if len(w) > 1 else 0.0
    eta = -np.cov(wl, w, ddof=1)[0, 1] / var if var > EPS else 0.0
    return float(wl.mean() + eta * w.mean() - eta)


def density_ratios(fs: np.ndarray, ft: np.ndarray, seed: int = 0) -> np.ndarray:
    """``p_t(x) / p_s(x)`` for each source feature row, from a cross-fitted logistic domain
    classifier: ``(n_s / n_t) d / (1 - d)`` with ``d = P(target | x)``."""
    fs, ft = np.asarray(fs, dtype=np.float64), np.asarray(ft, dtype=np.float64)
    x = np.concatenate([fs, ft])
    y = np.concatenate([np.zeros(len(fs)), np.ones(len(ft))])
    fold = np.random.default_rng(seed).permutation(len(x)) % 2
    d = np.empty(len(x))
    with threadpool_limits(1, user_api="blas"):  # one thread: see tlcore.transfer.domain
        for k in (0, 1):
            train, test = fold != k, fold == k
            scaler = StandardScaler().fit(x[train])
            clf = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x[train]), y[train])
            d[test] = clf.predict_proba(scaler.transform(x[test]))[:, 1]
    d = np.clip(d[:len(fs)], 1e-3, 1 - 1e-3)
    return (len(fs) / len(ft)) * d / (1 - d)


def dev(fs_val: np.ndarray, losses_val: np.ndarray, ft: np.ndarray, seed: int = 0) -> float:
    """Deep embedded validation risk of a run (lower is better)."""
    return control_variate(density_ratios(fs_val, ft, seed), losses_val)


def score_run(feats_val: torch.Tensor, probs_val: torch.Tensor, y_val: torch.Tensor,
              feats_t: torch.Tensor, probs_t: torch.Tensor) -> dict[str, float]:
    """Every criterion for one run: source validation features, probabilities and labels,
    and the target images' features and probabilities (no target labels)."""
    pv = probs_val.double().numpy()
    yv = y_val.numpy()
    losses = -np.log(np.clip(pv[np.arange(len(yv)), yv], EPS, 1.0))
    pt = probs_t.double().numpy()
    return {"source_val_accuracy": float((pv.argmax(1) == yv).mean()),
            "target_entropy": target_entropy(pt),
            "snd": snd(pt),
            "dev": dev(feats_val.double().numpy(), losses, feats_t.double().numpy())}
