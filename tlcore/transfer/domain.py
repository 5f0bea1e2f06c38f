"""How far apart two domains are, measured on features.

- Proxy A-distance (Ben-David et al. 2007/2010; used by Ganin et al. 2016): train a linear
  domain classifier on half of the pooled features, test on the other half; with test
  error ``e``, ``PAD = 2 (1 - 2 e)``. 0 means indistinguishable, 2 perfectly separable.
- MMD (Gretton et al. 2012): unbiased estimate of the squared maximum mean discrepancy
  with a Gaussian kernel whose bandwidth is the median pairwise distance.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits


def _balanced(fs: np.ndarray, ft: np.ndarray, max_per_domain: int, rng: np.random.Generator):
    n = min(len(fs), len(ft), max_per_domain)
    return fs[rng.choice(len(fs), n, replace=False)], ft[rng.choice(len(ft), n, replace=False)]


def proxy_a_distance(fs: np.ndarray | torch.Tensor, ft: np.ndarray | torch.Tensor, seed: int = 0,
                     max_per_domain: int = 1000) -> float:
    """Proxy A-distance between feature sets ``fs [Ns, D]`` and ``ft [Nt, D]``.

    Runs with one BLAS thread: it is called every epoch inside training, and on a busy
    2-core machine OpenBLAS's second thread waits for a core (10-200x slow-downs measured
    for small problems by the advisor's author); one thread costs little when idle."""
    with threadpool_limits(1, user_api="blas"):
        return _proxy_a_distance(fs, ft, seed, max_per_domain)


def _proxy_a_distance(fs, ft, seed: int, max_per_domain: int) -> float:
    fs, ft = np.asarray(fs, dtype=np.float64), np.asarray(ft, dtype=np.float64)
    rng = np.random.default_rng(seed)
    a, b = _balanced(fs, ft, max_per_domain, rng)
    x = np.concatenate([a, b])
    y = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    half = len(x) // 2
    scaler = StandardScaler().fit(x[:half])
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x[:half]), y[:half])
    err = 1.0 - clf.score(scaler.transform(x[half:]), y[half:])
    return float(2.0 * (1.0 - 2.0 * err))


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1) - 2 * a @ b.T).clamp_min(0)


def mmd2(fs: np.ndarray | torch.Tensor, ft: np.ndarray | torch.Tensor, bandwidth: float | None = None,
         seed: int = 0, max_per_domain: int = 1000) -> float:
    """Unbiased MMD^2 with ``k(x, y) = exp(-|x - y|^2 / (2 s^2))``; ``s`` defaults to the
    median pairwise distance of the pooled sample."""
    rng = np.random.default_rng(seed)
    a, b = _balanced(np.asarray(fs, dtype=np.float64), np.asarray(ft, dtype=np.float64), max_per_domain, rng)
    x, y = torch.from_numpy(a), torch.from_numpy(b)
    if bandwidth is None:
        pooled = torch.cat([x, y])
        d = _sq_dists(pooled, pooled).sqrt()
        bandwidth = float(d[d > 0].median()) if (d > 0).any() else 1.0
    gamma = 1.0 / (2.0 * bandwidth**2)
    kxx, kyy, kxy = (torch.exp(-gamma * _sq_dists(p, q)) for p, q in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    term_xx = (kxx.sum() - kxx.diag().sum()) / (m * (m - 1))
    term_yy = (kyy.sum() - kyy.diag().sum()) / (n * (n - 1))
    return float(term_xx + term_yy - 2 * kxy.mean())
