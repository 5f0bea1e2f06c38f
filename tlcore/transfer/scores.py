"""Transferability scores: how well a pre-trained model should transfer, before training.

Each score reads arrays cached from one forward pass of the pre-trained model over the
labelled *target* set, so ranking a model zoo costs seconds instead of a fine-tune per model.

- LogME (You et al. 2021, ICML), from ``features [N, D]``: per target class, the maximum
  marginal likelihood (evidence) of a Bayesian linear regression of the one-hot column on
  the features. One SVD of the features, then a scalar fixed point per class. Nats / sample.
- LEEP (Nguyen et al. 2020, ICML), from ``source_probs [N, Z]``: the log-likelihood of the
  target labels under the source head followed by the empirical map ``P(y|z)``. Needs a
  model with its source classifier; cost O(N Z). Nats / sample, at most 0.
- NCE (Tran et al. 2019, ICCV), from the hard source labels ``argmax(source_probs)``:
  ``-H(Y|Z)`` of the empirical joint of source and target labels. O(N). Nats, at most 0.
- H-score (Bao et al. 2019, ICIP), from ``features [N, D]``: ``tr(cov(f)^+ cov(E[f|y]))``,
  how much of the feature variance lies between class means. One D x D pseudo-inverse.

All are "higher is better" and only comparable across models on the same target data. Use
:func:`kendall_tau` to compare a score's ranking of models with their fine-tuned accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau

from tlcore.registry import Registry

# Fixed-point stopping rule for LogME. The original code stops at 1% change of alpha/beta
# after <= 11 steps; we go to 1e-10 so the returned evidence really is at the maximum
# (the tests perturb alpha and beta around it). Each step is O(min(N, D) K), so it is cheap.
# Where the evidence is flat the iteration crawls (rate near 1); the step cap bounds the
# cost, and there the evidence is already right to second order in the alpha error.
_LOGME_TOL, _LOGME_MAX_ITER = 1e-10, 1000
# Bounds on the ridge strength alpha/beta, as multiples of the largest s_i^2: beyond them
# the weights are zero (or the noise is) to double precision, so the evidence is at its limit.
_LOGME_LAM_RANGE = (1e-12, 1e12)
# Pseudo-inverse cut-off for H-score, relative to the largest feature variance. Cached
# features are usually float32; rounding them perturbs the covariance by ~1e-7 of its
# largest eigenvalue, so directions with less variance than 1e-6 of it are noise, and
# inverting them would let a rounding error dominate the trace.
H_SCORE_RCOND = 1e-6


def _labels(labels: np.ndarray, n: int, what: str = "labels") -> tuple[np.ndarray, int]:
    """Integer labels [N] -> (dense codes 0..C-1 [N], C); refuses fewer than 2 classes."""
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{what} must have shape [{n}] to match the inputs, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what} must be integers, got dtype {y.dtype}")
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"{what} need at least 2 classes, got {len(classes)}")
    return codes.reshape(-1), len(classes)


def _matrix(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must have shape [N, D] with N >= 2, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contain non-finite values (nan or inf)")
    return x


def logme_evidence(features: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, ...]:
    """Maximised log evidence of ``targets = F w + noise`` for each target column.

    Model (LogME Alg. 1): ``w ~ N(0, I/alpha)``, noise ``~ N(0, 1/beta)``. MacKay's fixed
    point ``gamma = sum beta s_i^2 / (alpha + beta s_i^2)``, ``alpha = gamma / |m|^2``,
    ``beta = (N - gamma) / |F m - y|^2`` is the stationarity condition of the evidence. In
    the basis of the SVD ``F = U S V^T`` every quantity is a sum over singular values, and
    written with ``lam = alpha / beta`` (the ridge strength) nothing overflows.

    The supremum can lie at a boundary, where the iteration diverges geometrically: features
    that explain nothing want ``alpha -> inf`` (weights 0; beta still converges), and an
    exact fit with N <= D wants ``beta -> inf`` (no noise; alpha still converges). So ``lam``
    is kept within ``_LOGME_LAM_RANGE`` times the largest ``s_i^2`` by capping only the
    diverging one; there the evidence is at its limit to ~1e-12 for well-conditioned F.

    Shape: features ``[N, D]``, targets ``[N, K]``; returns ``(evidence, alpha, beta)``,
    each ``[K]``; evidence is the total log evidence in nats (not divided by N).
    """
    f = _matrix(features, "features")
    y = np.asarray(targets, dtype=np.float64)
    n = len(f)
    if y.ndim != 2 or y.shape[0] != n:
        raise ValueError(f"targets must have shape [{n}, K], got {y.shape}")
    u, s, _ = np.linalg.svd(f, full_matrices=False)  # u [N, r], s [r], r = min(N, D)
    s2 = (s**2)[:, None]  # [r, 1]
    if s2.max() == 0:
        raise ValueError("features are all zero: there is nothing to regress on")
    z2 = (u.T @ y) ** 2  # [r, K]: targets in the feature column-space basis, squared
    out_of_span = np.maximum((y**2).sum(0) - z2.sum(0), 0.0)  # |y - U U^T y|^2, [K]
    lo, hi = np.array(_LOGME_LAM_RANGE) * s2.max()

    def parts(lam):
        w = lam + s2  # [r, K]: eigenvalues of A / beta = lam I + F^T F
        gamma = (s2 / w).sum(0)
        m2 = (s2 * z2 / w**2).sum(0)  # |m|^2, m = (lam I + F^T F)^-1 F^T y
        res2 = np.maximum((lam**2 * z2 / w**2).sum(0) + out_of_span, np.finfo(float).tiny)
        return gamma, m2, res2

    alpha, beta = np.ones(y.shape[1]), np.ones(y.shape[1])
    for _ in range(_LOGME_MAX_ITER):
        gamma, m2, res2 = parts(alpha / beta)
        with np.errstate(divide="ignore"):
            new_a, new_b = gamma / m2, (n - gamma) / res2  # m2 = 0: y has no part in span
        new_a, new_b = np.minimum(new_a, hi * new_b), np.minimum(new_b, new_a / lo)
        done = np.allclose(new_a, alpha, rtol=_LOGME_TOL, atol=0) and np.allclose(
            new_b, beta, rtol=_LOGME_TOL, atol=0)
        alpha, beta = new_a, new_b
        if done:
            break
    lam = alpha / beta
    gamma, m2, res2 = parts(lam)
    # N/2 log beta + D/2 log alpha - beta/2 |Fm - y|^2 - alpha/2 |m|^2 - 1/2 log det A
    # - N/2 log 2 pi; log det A = sum_i log(alpha + beta s_i^2) + (D - r) log alpha, so the
    # alpha and det terms fold into one log1p per singular value.
    evidence = (n / 2 * np.log(beta) - n / 2 * np.log(2 * np.pi) - beta / 2 * res2
                - alpha / 2 * m2 - np.log1p(s2 / lam).sum(0) / 2)
    return evidence, alpha, beta


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME: mean over classes of the maximised log evidence per sample.

    The evidence rewards features on which a linear model fits the one-hot target without
    needing large weights, integrating the weights out instead of training a head.

    Shape: features ``[N, D]``, labels ``[N]`` integers. Returns nats per sample; higher
    transfers better. Raw (uncentred) features, as in the paper's code.
    """
    f = _matrix(features, "features")
    codes, c = _labels(labels, len(f))
    evidence, _, _ = logme_evidence(f, np.eye(c)[codes])
    return float(evidence.mean() / len(f))


def _probs(source_probs: np.ndarray) -> np.ndarray:
    p = _matrix(source_probs, "source_probs")
    if (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-3):
        raise ValueError("source_probs rows must be probabilities summing to 1 "
                         "(logits? apply a softmax first)")
    return p


def leep(source_probs: np.ndarray, labels: np.ndarray, num_classes: int | None = None) -> float:
    """LEEP: mean log-likelihood of the target labels under ``P(y|z)`` composed with the
    source head.

    ``P(y, z) = (1/N) sum_i theta_iz [y_i = y]``, ``P(y|z) = P(y, z) / P(z)``, score
    ``(1/N) sum_i log sum_z P(y_i|z) theta_iz``. A source class z never predicted has
    ``P(z) = 0`` and contributes nothing.

    Shape: source_probs ``[N, Z]`` (source softmax on target inputs), labels ``[N]``.
    ``num_classes`` only checks that labels lie in ``[0, num_classes)``: classes with no
    sample have ``P(y, z) = 0`` and do not change the score.
    """
    theta = _probs(source_probs)
    codes, c = _labels(labels, len(theta))
    if num_classes is not None and (np.min(labels) < 0 or np.max(labels) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    joint = np.zeros((c, theta.shape[1]))
    np.add.at(joint, codes, theta)
    joint /= len(theta)  # [C, Z]
    pz = joint.sum(0)
    cond = np.divide(joint, pz, out=np.zeros_like(joint), where=pz > 0)  # P(y|z)
    return float(np.mean(np.log((theta * cond[codes]).sum(1))))


def nce(source_labels: np.ndarray, target_labels: np.ndarray) -> float:
    """NCE: ``-H(Y|Z)`` in nats from the empirical joint of hard source labels Z and target
    labels Y. 0 when Y is a function of Z; ``-H(Y)`` when they are independent.

    Shape: source_labels ``[N]`` (argmax of the source head), target_labels ``[N]``.
    """
    z = np.asarray(source_labels)
    if z.ndim != 1 or len(z) < 2 or not np.issubdtype(z.dtype, np.integer):
        raise ValueError(f"source_labels must be integers of shape [N], N >= 2, got {z.shape}")
    codes, c = _labels(target_labels, len(z), "target_labels")
    _, zc = np.unique(z, return_inverse=True)
    joint = np.zeros((c, zc.max() + 1))
    np.add.at(joint, (codes, zc.reshape(-1)), 1.0)
    joint /= len(z)
    cond = joint / joint.sum(0)  # every z here was observed, so P(z) > 0
    nz = joint > 0
    return float((joint[nz] * np.log(cond[nz])).sum())


def h_score(features: np.ndarray, labels: np.ndarray, rcond: float = H_SCORE_RCOND) -> float:
    """H-score: ``tr(cov(f)^+ cov(E[f|y]))``, the between-class share of feature variance
    in the metric of the feature covariance (a multi-class Fisher ratio).

    Shape: features ``[N, D]``, labels ``[N]``. ``rcond`` (see ``H_SCORE_RCOND``) drops
    directions of near-zero variance. Between 0 and ``min(C - 1, D)``.
    """
    f = _matrix(features, "features")
    codes, c = _labels(labels, len(f))
    means = np.zeros((c, f.shape[1]))
    np.add.at(means, codes, f)
    means /= np.bincount(codes, minlength=c)[:, None]
    cov_f = np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])
    cov_g = np.cov(means[codes], rowvar=False).reshape(cov_f.shape)  # f replaced by E[f|y]
    return float(np.trace(np.linalg.pinv(cov_f, rcond=rcond, hermitian=True) @ cov_g))


def nce_from_probs(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """NCE with the hard source labels taken as ``argmax(source_probs)`` (registry form)."""
    return nce(_probs(source_probs).argmax(1), labels)


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b between two rankings, e.g. a score vs fine-tuned accuracy per model.

    nan instead of an error or warning when it is undefined: fewer than 2 items, either
    side constant, or any nan in the inputs (drop those items first if that is meant).
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if len(a) != len(b):
        raise ValueError(f"kendall_tau needs equal lengths, got {len(a)} and {len(b)}")
    if len(a) < 2 or np.isnan(a).any() or np.isnan(b).any() or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(kendalltau(a, b)[0])  # tau-b (ties in either ranking handled)


@dataclass(frozen=True)
class ScoreInfo:
    """A registered score: ``fn(x, labels) -> float`` where x is what ``needs`` names."""

    name: str
    title: str  # how pages and tables name it ("LogME")
    fn: Callable[[np.ndarray, np.ndarray], float]
    needs: str  # "features" [N, D] or "source_probs" [N, Z]
    higher_is_better: bool
    description: str


SCORES: Registry[ScoreInfo] = Registry("transferability score")
for _info in (
    ScoreInfo("logme", "LogME", logme, "features", True,
              "Evidence of a Bayesian linear head on the features (You et al., ICML 2021)."),
    ScoreInfo("leep", "LEEP", leep, "source_probs", True,
              "Log-likelihood of target labels via the source head (Nguyen et al., ICML 2020)."),
    ScoreInfo("nce", "NCE", nce_from_probs, "source_probs", True,
              "Negative conditional entropy of target given source labels (Tran et al., ICCV 2019)."),
    ScoreInfo("h_score", "H-score", h_score, "features", True,
              "Between-class feature variance over total, tr(cov^-1 cov_y) (Bao et al., ICIP 2019)."),
):
    SCORES.add(_info)
del _info
