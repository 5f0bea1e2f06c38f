"""Label-free validation criteria against hand-worked cases (tlcore.transfer.criteria)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tlcore.transfer import criteria as cr


def test_target_entropy_is_the_mean_prediction_entropy():
    assert cr.target_entropy(np.array([[1.0, 0.0], [0.5, 0.5]])) == pytest.approx(math.log(2) / 2)


def test_snd_by_hand():
    """Two identical predictions and one orthogonal: each twin's neighbourhood is its twin
    (softmax of 1/tau against 0), the odd one's is uniform over the other two."""
    p = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    a = math.exp(1 / cr.SND_TAU) / (math.exp(1 / cr.SND_TAU) + 1)
    twin = -(a * math.log(a) + (1 - a) * math.log(1 - a))
    assert cr.snd(p) == pytest.approx((2 * twin + math.log(2)) / 3, rel=1e-9)


def test_snd_of_tight_clusters_is_the_log_of_their_size():
    """Five clusters of 40 identical one-hot predictions: each row's softmax is (nearly)
    uniform over its 39 twins, so SND ~ ln 39; noisier predictions have sparser neighbourhoods."""
    clusters = np.repeat(np.eye(5), 40, axis=0)
    assert cr.snd(clusters) == pytest.approx(math.log(39), abs=1e-3)
    noisy = np.random.default_rng(0).dirichlet(np.ones(5), 200)
    assert cr.snd(noisy) < cr.snd(clusters)


def test_control_variate_by_hand():
    # w = [1, 3], l = [2, 1]: mean(wl) = 2.5, mean(w) = 2, cov(wl, w) = 1, var(w) = 2, eta = -0.5
    assert cr.control_variate(np.array([1.0, 3.0]), np.array([2.0, 1.0])) == pytest.approx(2.0)
    # equal weights: no variance to control, the plain weighted mean
    assert cr.control_variate(np.full(4, 1.5), np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(1.5 * 2.5)


def test_density_ratios_are_one_on_one_domain_and_follow_a_shift():
    rng = np.random.default_rng(0)
    fs = rng.normal(0, 1, (400, 4))
    same = cr.density_ratios(fs, rng.normal(0, 1, (400, 4)))
    assert abs(np.median(same) - 1.0) < 0.2
    shifted = cr.density_ratios(fs, rng.normal(0, 1, (400, 4)) + [1.5, 0, 0, 0])
    near, far = fs[:, 0] > 1, fs[:, 0] < -1  # source images that look like the target weigh more
    assert shifted[near].mean() > 3 * shifted[far].mean()


def test_score_run_gives_every_registered_criterion():
    g = torch.Generator().manual_seed(0)
    pv = torch.softmax(torch.randn(30, 3, generator=g), 1)
    out = cr.score_run(torch.randn(30, 8, generator=g), pv, pv.argmax(1), torch.randn(40, 8, generator=g),
                       torch.softmax(torch.randn(40, 3, generator=g), 1))
    assert set(out) == set(cr.CRITERIA.names())
    assert out["source_val_accuracy"] == 1.0 and all(math.isfinite(v) for v in out.values())
