"""Domain distances against independent computations."""

from __future__ import annotations

import numpy as np
import pytest

from tlcore.strategies.coral import coral
from tlcore.transfer.domain import mmd2, proxy_a_distance


def _mmd2_loops(x, y, s):
    k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / (2 * s * s))  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_a_direct_double_loop():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 3)), rng.normal(1.0, 1.0, size=(12, 3))
    assert mmd2(x, y, bandwidth=1.7) == pytest.approx(_mmd2_loops(x, y, 1.7), rel=1e-9)


def test_mmd2_separates_shifted_from_same():
    rng = np.random.default_rng(1)
    a, b, c = rng.normal(size=(300, 5)), rng.normal(size=(300, 5)), rng.normal(2.0, 1.0, size=(300, 5))
    assert abs(mmd2(a, b)) < 0.02 < mmd2(a, c)


def test_proxy_a_distance_extremes():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(400, 4)), rng.normal(size=(400, 4))
    far = rng.normal(8.0, 1.0, size=(400, 4))
    assert proxy_a_distance(a, b) < 0.4
    assert proxy_a_distance(a, far) == pytest.approx(2.0)


def test_coral_is_zero_for_equal_covariance_and_matches_formula():
    import torch

    torch.manual_seed(0)
    x = torch.randn(50, 4)
    assert float(coral(x, x + 3.0)) == pytest.approx(0.0, abs=1e-10)  # a shift keeps covariance
    y = torch.randn(50, 4) * 2
    cs, ct = np.cov(x.numpy(), rowvar=False), np.cov(y.numpy(), rowvar=False)
    assert float(coral(x, y)) == pytest.approx(((cs - ct) ** 2).sum() / (4 * 16), rel=1e-5)
