"""Transferability scores against hand arithmetic, loop re-implementations and dense algebra."""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from tlcore.transfer.scores import (
    SCORES,
    h_score,
    kendall_tau,
    leep,
    logme,
    logme_evidence,
    nce,
)


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _blobs(seed, n=300, d=8, c=3, sep=3.0):
    """Features [n, d] = class mean + unit noise, labels [n]."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    return rng.normal(size=(c, d))[y] * sep + rng.normal(size=(n, d)), y


# ---------------------------------------------------------------- LEEP


def test_leep_hand_computed_2x2():
    theta = np.array([[1.0, 0.0], [0.8, 0.2], [0.4, 0.6], [0.2, 0.8]])
    y = np.array([0, 0, 0, 1])
    # P(y,z) = column sums of theta per class / 4:
    #   y=0: z0 (1 + .8 + .4)/4 = .55, z1 (0 + .2 + .6)/4 = .2;  y=1: z0 .2/4 = .05, z1 .8/4 = .2
    # P(z) = (.6, .4);  P(y|z): P(0|z0) = 11/12, P(1|z0) = 1/12, P(0|z1) = P(1|z1) = 1/2
    # sum_z P(y_i|z) theta_iz:
    #   i0: 1 * 11/12 + 0 * 1/2        = 11/12
    #   i1: .8 * 11/12 + .2 * 1/2      = 8.8/12 + 1.2/12 = 10/12
    #   i2: .4 * 11/12 + .6 * 1/2      = 4.4/12 + 3.6/12 = 8/12
    #   i3: .2 * 1/12 + .8 * 1/2       = .2/12 + 4.8/12  = 5/12
    expected = (math.log(11 / 12) + math.log(10 / 12) + math.log(8 / 12) + math.log(5 / 12)) / 4
    assert leep(theta, y) == pytest.approx(expected, rel=1e-12)
    assert leep(theta, y, num_classes=5) == pytest.approx(expected, rel=1e-12)


def _leep_loops(theta, y):
    n, nz = theta.shape
    classes = sorted(set(y.tolist()))
    joint = {(c, z): sum(theta[i, z] for i in range(n) if y[i] == c) / n
             for c in classes for z in range(nz)}
    pz = [sum(joint[c, z] for c in classes) for z in range(nz)]
    total = 0.0
    for i in range(n):
        total += math.log(sum(joint[y[i], z] / pz[z] * theta[i, z] for z in range(nz)))
    return total / n


def test_leep_matches_loops_on_a_random_case():
    rng = np.random.default_rng(0)
    theta = _softmax(rng.normal(size=(40, 5)) * 2)
    y = rng.integers(0, 3, 40)
    assert leep(theta, y) == pytest.approx(_leep_loops(theta, y), rel=1e-12)


def test_leep_ignores_a_never_predicted_source_class():
    rng = np.random.default_rng(1)
    theta = _softmax(rng.normal(size=(30, 4)))
    y = rng.integers(0, 2, 30)
    padded = np.concatenate([theta, np.zeros((30, 1))], axis=1)  # P(z=4) = 0
    assert leep(padded, y) == pytest.approx(leep(theta, y), rel=1e-12)


def test_leep_refuses_logits_and_out_of_range_labels():
    rng = np.random.default_rng(2)
    with pytest.raises(ValueError, match="softmax"):
        leep(rng.normal(size=(10, 3)), np.arange(10) % 2)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        leep(_softmax(rng.normal(size=(10, 3))), np.arange(10) % 3, num_classes=2)


# ---------------------------------------------------------------- NCE


def test_nce_hand_computed():
    # z = 0 0 1 1, y = 0 1 1 1: P(y|z=0) = (1/2, 1/2), P(y|z=1) = (0, 1), P(z) = (1/2, 1/2)
    # H(Y|Z) = 1/2 * ln 2 + 1/2 * 0  ->  NCE = -ln(2)/2
    assert nce(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])) == pytest.approx(-math.log(2) / 2)
    # z = 0 0 0 1 1 1, y = 0 0 1 1 2 2: H(Y|z=0) = H(2/3, 1/3), H(Y|z=1) = H(1/3, 2/3)
    # = -(2/3 ln 2/3 + 1/3 ln 1/3) each  ->  NCE = 2/3 ln 2/3 + 1/3 ln 1/3
    expected = 2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)
    assert nce(np.array([0, 0, 0, 1, 1, 1]), np.array([0, 0, 1, 1, 2, 2])) == pytest.approx(expected)


def _nce_loops(z, y):
    """-H(Y|Z) as sum_z P(z) sum_y P(y|z) log P(y|z), from counters."""
    n, nz, nyz = len(z), Counter(z.tolist()), Counter(zip(z.tolist(), y.tolist(), strict=True))
    h = 0.0
    for zv, cz in nz.items():
        for (zz, _), cyz in nyz.items():
            if zz == zv:
                h -= cz / n * (cyz / cz) * math.log(cyz / cz)
    return -h


def test_nce_matches_loops_on_a_random_case():
    rng = np.random.default_rng(3)
    z, y = rng.integers(0, 6, 80), rng.integers(0, 4, 80)
    y[z == 2] = 1  # some structure, so H(Y|Z) != H(Y)
    assert nce(z, y) == pytest.approx(_nce_loops(z, y), rel=1e-12)


def test_nce_is_zero_for_a_relabelling_and_minus_h_y_for_independence():
    rng = np.random.default_rng(4)
    z = rng.integers(0, 5, 200)
    assert nce(z, np.array([3, 0, 4, 1, 2])[z]) == pytest.approx(0.0, abs=1e-12)
    # Exactly independent by construction: every z sees y = 0, 0, 1, 2 -> P(y) = (1/2, 1/4, 1/4),
    # H(Y) = 1/2 ln 2 + 2 * 1/4 ln 4 = 1.5 ln 2.
    z_grid, y_grid = np.repeat(np.arange(3), 4), np.tile([0, 0, 1, 2], 3)
    assert nce(z_grid, y_grid) == pytest.approx(-1.5 * math.log(2), rel=1e-12)
    # Independent at random: plug-in bias is ~(|Y|-1)(|Z|-1)/(2N) = 1.5e-4.
    z, y = rng.integers(0, 3, 20000), rng.integers(0, 4, 20000)
    assert nce(z, y) == pytest.approx(-math.log(4), abs=0.01)


# ---------------------------------------------------------------- H-score


def _h_score_loops(f, y):
    g = np.zeros_like(f)
    for c in np.unique(y):
        g[y == c] = f[y == c].mean(0)
    return np.trace(np.linalg.inv(np.cov(f, rowvar=False)) @ np.cov(g, rowvar=False))


def test_h_score_matches_per_class_loop_oracle():
    f, y = _blobs(5, n=200, d=5, c=3, sep=1.0)
    assert h_score(f, y) == pytest.approx(_h_score_loops(f, y), rel=1e-9)


def test_h_score_invariant_to_a_constant_and_higher_for_separated_classes():
    f, y = _blobs(6)
    assert h_score(f + 7.3, y) == pytest.approx(h_score(f, y), rel=1e-9)
    shuffled = np.random.default_rng(0).permutation(y)
    assert h_score(f, y) > 1.5 > 0.1 > h_score(f, shuffled)  # bound: C - 1 = 2


# ---------------------------------------------------------------- LogME


def _dense_evidence(f, y, alpha, beta):
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    _, logdet = np.linalg.slogdet(a)
    return (n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
            - beta / 2 * np.sum((f @ m - y) ** 2) - alpha / 2 * m @ m - logdet / 2)


def _spectral(rng, n, d, s):
    """Random F [n, d] with singular values s: a wide spectrum lets noise and signal be told
    apart, so the evidence maximum is interior (alpha, beta both finite)."""
    u = np.linalg.qr(rng.normal(size=(n, len(s))))[0]
    v = np.linalg.qr(rng.normal(size=(d, len(s))))[0]
    return u * s @ v.T


@pytest.mark.parametrize("n,d", [(60, 6), (15, 40)])  # N > D, and N < D (rank-deficient F^T F)
def test_logme_evidence_is_the_dense_evidence_at_its_maximum(n, d):
    rng = np.random.default_rng(n + d)
    f = _spectral(rng, n, d, np.logspace(1.5, -1, min(n, d)))
    targets = np.stack([f @ rng.normal(size=d) * 0.3 + rng.normal(size=n),
                        f @ rng.normal(size=d) + rng.normal(size=n),
                        (rng.random(n) < 0.4).astype(float)], axis=1)
    evidence, alpha, beta = logme_evidence(f, targets)
    for k in range(targets.shape[1]):
        y, a, b = targets[:, k], alpha[k], beta[k]
        assert evidence[k] == pytest.approx(_dense_evidence(f, y, a, b), rel=1e-9)
        for s in (0.95, 1.05):
            assert _dense_evidence(f, y, a * s, b) < evidence[k]
            assert _dense_evidence(f, y, a, b * s) < evidence[k]
        best = minimize(lambda p, y=y: -_dense_evidence(f, y, *np.exp(p)), [0.0, 0.0],
                        method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
        assert evidence[k] == pytest.approx(-best.fun, abs=1e-6)
        assert np.log(a) == pytest.approx(best.x[0], abs=1e-3)
        assert np.log(b) == pytest.approx(best.x[1], abs=1e-3)


def test_logme_evidence_reaches_the_no_weights_limit_when_features_explain_nothing():
    # y orthogonal to every feature column: the evidence rises with alpha towards the model
    # y ~ N(0, I / beta) with beta = N / |y|^2, whose log evidence is
    # N/2 log(N / |y|^2) - N/2 log(2 pi) - N/2.
    rng = np.random.default_rng(11)
    f, r = rng.normal(size=(50, 5)), rng.normal(size=50)
    y = r - f @ np.linalg.lstsq(f, r, rcond=None)[0]
    limit = 25 * np.log(50 / (y @ y)) - 25 * np.log(2 * np.pi) - 25
    evidence, alpha, beta = logme_evidence(f, y[:, None])
    assert evidence[0] == pytest.approx(limit, rel=1e-9)
    assert beta[0] == pytest.approx(50 / (y @ y), rel=1e-9)
    assert evidence[0] == pytest.approx(_dense_evidence(f, y, alpha[0], beta[0]), rel=1e-9)


def test_logme_evidence_reaches_the_noise_free_limit_for_an_exact_fit():
    # N < D and y = F w exactly: the evidence rises with beta towards y ~ N(0, F F^T / alpha),
    # maximised at alpha = N / (y^T (F F^T)^-1 y), with log evidence
    # -N/2 log(2 pi) - 1/2 log det(F F^T / alpha) - N/2.
    rng = np.random.default_rng(12)
    f = rng.normal(size=(10, 25))
    y = f @ rng.normal(size=25)
    gram = f @ f.T
    a_star = 10 / (y @ np.linalg.solve(gram, y))
    limit = -5 * np.log(2 * np.pi) - np.linalg.slogdet(gram / a_star)[1] / 2 - 5
    evidence, alpha, _ = logme_evidence(f, y[:, None])
    assert evidence[0] == pytest.approx(limit, rel=1e-9)
    assert alpha[0] == pytest.approx(a_star, rel=1e-6)


def test_logme_is_mean_per_sample_evidence_over_one_hot_columns():
    f, y = _blobs(7, n=90, d=4, c=3, sep=1.0)
    one_hot = (y[:, None] == np.arange(3)).astype(float)
    _, alpha, beta = logme_evidence(f, one_hot)
    per_class = [_dense_evidence(f, one_hot[:, k], alpha[k], beta[k]) for k in range(3)]
    assert logme(f, y) == pytest.approx(np.mean(per_class) / 90, rel=1e-9)
    assert logme(f, y * 10 + 3) == pytest.approx(logme(f, y), rel=1e-12)  # ids are just names


def test_logme_separated_beats_shuffled():
    f, y = _blobs(8)
    assert logme(f, y) > logme(f, np.random.default_rng(0).permutation(y)) + 0.1


def test_logme_is_fast_at_realistic_size():
    rng = np.random.default_rng(9)
    f, y = rng.normal(size=(2000, 512)).astype(np.float32), rng.integers(0, 10, 2000)
    # One BLAS thread: on a loaded 2-core box OpenBLAS threads thrash and the SVD alone has
    # taken 12 s instead of 0.2 s; this checks the algorithm (~0.5 s), not that contention.
    with threadpool_limits(limits=1, user_api="blas"):
        start = time.perf_counter()
        score = logme(f, y)
        elapsed = time.perf_counter() - start
    assert np.isfinite(score)
    assert elapsed < 20  # loose: the point is no O(N^2 D) step or per-iteration SVD


# ---------------------------------------------------------------- every registered score


@pytest.fixture(scope="module")
def informative_vs_noise():
    """make_classification with its informative columns first and pure-noise columns last.
    A source head (6 classes) is trained on one half; the target task groups those classes
    in pairs on the other half, so a good source model is related but not identical."""
    x, y = make_classification(n_samples=1200, n_features=20, n_informative=10, n_redundant=0,
                               n_classes=6, n_clusters_per_class=1, class_sep=1.5,
                               shuffle=False, random_state=0)
    src, tgt = slice(0, 600), slice(600, 1200)
    out = {}
    for name, cols in (("informative", slice(0, 10)), ("noise", slice(10, 20))):
        head = LogisticRegression(max_iter=2000).fit(x[src, cols], y[src])
        out[name] = {"features": x[tgt, cols], "source_probs": head.predict_proba(x[tgt, cols])}
    return out, y[tgt] // 2


@pytest.mark.parametrize("name", SCORES.names())
def test_every_score_ranks_informative_features_above_noise(name, informative_vs_noise):
    inputs, labels = informative_vs_noise
    info = SCORES.get(name)
    good, bad = (info.fn(inputs[k][info.needs], labels) for k in ("informative", "noise"))
    assert np.isfinite(good) and np.isfinite(bad)
    assert (good > bad) == info.higher_is_better, (good, bad)


@pytest.mark.parametrize("name", SCORES.names())
def test_every_score_refuses_bad_input_with_a_clear_message(name):
    info = SCORES.get(name)
    rng = np.random.default_rng(10)
    x = _softmax(rng.normal(size=(20, 4))) if info.needs == "source_probs" else rng.normal(size=(20, 4))
    y = np.arange(20) % 2
    assert np.isfinite(info.fn(x, y))
    with pytest.raises(ValueError, match="shape"):
        info.fn(x, y[:-1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        info.fn(x, np.zeros(20, dtype=int))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        info.fn(bad, y)
    assert info.description and info.needs in ("features", "source_probs")


def test_score_titles_are_distinct_names_for_tables():
    # The advisor page names its table columns and picker options by these titles: an
    # empty or repeated title would hide a score or merge two columns.
    titles = [s.title for s in SCORES]
    assert all(titles) and len(set(titles)) == len(titles) == len(SCORES)
    assert SCORES.get("logme").title == "LogME"


def test_nce_refuses_mismatched_label_arrays():
    with pytest.raises(ValueError, match="shape"):
        nce(np.array([0, 1, 1]), np.array([0, 1]))


# ---------------------------------------------------------------- kendall_tau


def test_kendall_tau_known_values_and_nan_cases():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # [1,2,3,4] vs [1,3,2,4]: of 6 pairs only (2,3) is discordant -> (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(kendall_tau([1.0], [2.0]))
        assert math.isnan(kendall_tau([], []))
        assert math.isnan(kendall_tau([1, 2, 3], [5, 5, 5]))
        assert math.isnan(kendall_tau([1, np.nan, 3], [1, 2, 3]))
    with pytest.raises(ValueError, match="equal lengths"):
        kendall_tau([1, 2], [1, 2, 3])
