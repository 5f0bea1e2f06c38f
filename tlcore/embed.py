"""2-D maps of feature vectors (PCA or UMAP), fitted once per view and reused.

The question an embedding answers here is "what did training do to the features?". So
the pretrained and the after-run features of the same images are drawn through ONE
fitted map (``fit_map``), and a ``Projector`` can place further features with
``transform``: what moves between panels is the features, not the noise of re-fitting a
stochastic layout per panel. ``fit_map`` explains why the map is fitted on all panels
together rather than on the pretrained side alone.

PCA (scikit-learn) is linear and instant: distances along its two axes are honest, but
it shows only the two directions of largest variance. UMAP (umap-learn) keeps local
neighbourhoods, so clusters separate far better.

UMAP's fast path, measured by ``bench/bench_umap.py`` on 2 shared cores (load average
4-7) with 2,000 x 512 clustered features: a fit takes ~1.3-1.9 s against ~7-13 s for
``umap.UMAP().fit_transform`` with every default (5.4-7.0x over three runs), with the
same trustworthiness (0.9816 vs 0.9819-0.9827, 10 neighbours). Where the time goes, and what we do instead:

* neighbours: up to ``EXACT_MAX`` points, one BLAS distance matrix (~0.2 s) and
  ``exact_knn`` (~0.05 s) give umap the exact kNN graph its small-data path would build
  by sorting every row in numba (~0.45 s, plus ~6 s compiling in each new process). The
  matrix also serves ``transform``: umap-learn's own small-data ``transform`` computes
  distances pair by pair from Python and took ~15 s for 2,000 x 2,000.
* init: our PCA (ARPACK, ~0.1 s) rather than the spectral init.
* epochs: 200 rather than the 500 umap picks below 10,000 points (trustworthiness on the
  bench data: 0.979 at 100 epochs, 0.9816 at 200, 0.982 at 500).
* compiling: umap-learn 0.5 compiles its kernels again in every process (13-15 s on the
  first fit); ``_load_umap`` keeps them in numba's disk cache, and ``warm_up`` imports
  umap and loads them in a background thread at app start: ~5 s with the cache filled
  (mostly ``import umap``), ~35-55 s once with it empty. After that the first map of a
  process takes ~1.7-2.3 s.

PCA takes 0.1-0.4 s; a UMAP ``transform`` of 500 new points ~0.5 s.

Determinism: UMAP gets ``random_state=seed``, which makes fit and transform repeatable
(the same picture after a reload, in a class demo, in a test) at the price of umap's
multi-threaded optimisation. On the 2-core machines this lab targets that parallelism
buys little, and a map that shifts on every rerun would defeat the point of the page.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from tlcore.paths import cache_dir

METHODS = ("pca", "umap")
MAX_POINTS = 2000  # enough to see clusters; past a few thousand UMAP becomes a wait, not insight

EXACT_MAX = 4096  # up to here UMAP works on an exact distance matrix (64 MiB at most)

# n_neighbors 15 / min_dist 0.1: umap's defaults, a balance of local and global structure.
# n_epochs 200: umap's own choice for large data; enough for a few thousand points (umap
# picks 500 below 10,000: 2.5x the optimisation time for +0.0004 trustworthiness, see above).
# init "pca": deterministic and cheaper than the spectral init, and keeps the global
# layout close to the PCA view the page shows first.
# low_memory: the nearest-neighbour descent trades a little speed for much less memory.
UMAP_PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "n_epochs": 200, "init": "pca",
               "low_memory": True, "metric": "euclidean"}


def _as_2d_float(features) -> np.ndarray:
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    return x


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances [len(a), len(b)] computed with BLAS.

    umap-learn's own small-data ``transform`` calls a numba distance once per pair from
    Python (~15 s for 2,000 x 2,000 here); a precomputed matrix takes milliseconds."""
    from sklearn.metrics.pairwise import euclidean_distances

    d = euclidean_distances(a, b)
    if a is b:
        np.fill_diagonal(d, 0.0)
    return d.astype(np.float32)


def exact_knn(d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest neighbours of every row of a square distance matrix ``d`` [N, N]
    (zero diagonal, so each point is its own first neighbour, as umap counts them).

    Returns indices int32 [N, k] and distances float32 [N, k], nearest first, ties by
    index: what umap's small-data path gets by merge-sorting every row of ``d``
    (``umap.utils.fast_knn_indices``). ``argpartition`` only finds the k smallest per row
    and sorts those: measured ~0.05 s for 2,000 points against ~0.45 s for umap's sort,
    whose numba kernel also took ~6 s to compile in every new process. Where several
    points tie at the k-th distance, ``argpartition`` keeps any of them; those (rare) rows
    are redone so the lowest indices win, as in a stable sort, and the graph does not
    depend on numpy's selection algorithm."""
    k = min(k, len(d))
    idx = np.argpartition(d, k - 1, axis=1)[:, :k]
    dist = np.take_along_axis(d, idx, axis=1)
    kth = dist.max(axis=1, keepdims=True)
    for i in np.flatnonzero((d <= kth).sum(axis=1) > k):  # a tie straddles the k-th place
        within = np.flatnonzero(d[i] <= kth[i])
        idx[i] = within[np.argsort(d[i, within], kind="stable")[:k]]
        dist[i] = d[i, idx[i]]
    order = np.lexsort((idx, dist), axis=-1)  # by distance, then by index
    return (np.take_along_axis(idx, order, axis=1).astype(np.int32),
            np.take_along_axis(dist, order, axis=1).astype(np.float32))


class _RowsAreTheIndex:
    """Stands in for umap's neighbour-search index when umap is given our exact kNN.

    With ``metric="precomputed"`` umap's ``transform`` reads each new point's neighbours
    off the distance rows it is passed and never queries an index, but umap-learn 0.5
    refuses to transform at all when ``precomputed_knn`` came without one (its index is
    then None). umap warns that this object is not an ``NNDescent``; that warning is
    silenced with its other UserWarnings."""


_ROWS_ARE_THE_INDEX = _RowsAreTheIndex()

# umap-learn's numba kernels on our path that umap-learn 0.5 compiles in every new process
# (no ``cache=True``): measured ~5-6 s, ~2 s (twice: fit and transform) and ~1 s of
# compiling on the first fit and transform. ``_load_umap`` turns numba's on-disk cache on
# for them. Only the serial optimiser: umap builds its parallel twin from the same Python
# function and numba's cache key does not include the parallel flag, so the two would
# share cache entries.
UMAP_KERNELS = (("umap.umap_", "smooth_knn_dist"),
                ("umap.umap_", "compute_membership_strengths"),
                ("umap.layouts", "_nb_optimize_layout_euclidean_single_epoch"))

_umap_lock = threading.Lock()
_umap_ready: list[bool] = []  # non-empty once _load_umap has run


def numba_cache_dir() -> Path:
    """Where numba keeps compiled code: ``NUMBA_CACHE_DIR`` if the user set it, else
    ``<cache_dir()>/numba``, so it is deleted with the app's other caches and never
    written into the installed packages."""
    return Path(os.environ.get("NUMBA_CACHE_DIR") or cache_dir() / "numba")


def _load_umap():
    """Import umap with numba's disk cache in ``numba_cache_dir()`` and on for
    ``UMAP_KERNELS``; returns the ``umap`` module.

    The directory must be chosen before umap is first imported: pynndescent (imported by
    umap) compiles ~40 kernels with ``cache=True`` at import, and numba fixes where each
    caches when it is decorated. Measured on 2 busy cores: ``import umap`` takes ~31 s
    with an empty cache directory and ~3-5 s with a filled one; the first fit of 2,000
    points in a new process took 13-15 s before (umap's own kernels compiled every time)
    and takes ~1.7-2.3 s with everything read from the disk cache."""
    with _umap_lock:
        if not _umap_ready:
            if not os.environ.get("NUMBA_CACHE_DIR"):
                os.environ["NUMBA_CACHE_DIR"] = str(numba_cache_dir())
            import numba

            numba.config.reload_config()  # numba may have been imported (and read the env) before us
            import umap  # noqa: F401

            for module, name in UMAP_KERNELS:
                getattr(sys.modules[module], name).enable_caching()
            _umap_ready.append(True)
    return sys.modules["umap"]


class Projector:
    """A 2-D map fitted once (``fit``) and applied to any features of the same width.

    ``transform(x)`` with ``x`` of shape ``[N, D]`` returns ``[N, 2]`` float32; the same
    ``x`` always gives the same coordinates (PCA is linear; UMAP is seeded).
    """

    def __init__(self, method: str = "pca", seed: int = 0, **umap_params) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        self.method = method
        self.seed = seed
        self.params = {**UMAP_PARAMS, **umap_params}
        self.model = None
        self.dim: int | None = None
        self.embedding: np.ndarray | None = None  # coordinates of the fitted points
        self.train: np.ndarray | None = None  # the fitted points (UMAP needs them to transform)
        self.exact = False  # UMAP on exact distances (small data) rather than approximate neighbours

    def fit(self, features) -> Projector:
        x = _as_2d_float(features)
        if len(x) < 3:
            raise ValueError("a map needs at least 3 points")
        self.dim = x.shape[1]
        from sklearn.decomposition import PCA

        if self.method == "pca":
            self.model = PCA(n_components=2, random_state=self.seed)
            self.embedding = self.model.fit_transform(x).astype(np.float32)
        else:
            umap = _load_umap()
            params = dict(self.params)
            k = params["n_neighbors"] = max(2, min(params["n_neighbors"], len(x) - 1))
            if params.get("init") == "pca":  # our PCA, scaled the way umap scales its own
                # ARPACK finds just the top two components: ~0.1 s for 2,000 x 512 where
                # the default (randomized) solver took ~0.5 s; seeded, so deterministic.
                solver = "arpack" if min(x.shape) > 2 else "full"
                pca = PCA(n_components=2, svd_solver=solver, random_state=self.seed).fit_transform(x)
                params["init"] = (10 * pca / max(np.abs(pca).max(), 1e-12)).astype(np.float32)
            self.exact = len(x) <= EXACT_MAX
            with warnings.catch_warnings():  # n_jobs=1 because of random_state: chosen, see above
                warnings.simplefilter("ignore", UserWarning)
                if self.exact:
                    d = _distances(x, x)
                    # The neighbours umap would find by argsorting every row, handed over
                    # ready (see exact_knn); force_approximation_algorithm makes umap take
                    # them below 4,096 points instead of recomputing them itself.
                    params.update(metric="precomputed", force_approximation_algorithm=True,
                                  precomputed_knn=(*exact_knn(d, k), _ROWS_ARE_THE_INDEX))
                self.model = umap.UMAP(n_components=2, random_state=self.seed, **params)
                self.embedding = self.model.fit_transform(d if self.exact else x).astype(np.float32)
        self.train = x
        return self

    def transform(self, features) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("fit the projector before transforming")
        x = _as_2d_float(features)
        if x.shape[1] != self.dim:
            raise ValueError(f"fitted on {self.dim}-d features, got {x.shape[1]}-d")
        if len(x) == 0:
            return np.zeros((0, 2), np.float32)
        if x.shape == self.train.shape and np.array_equal(x, self.train):
            return self.embedding.copy()  # the fitted points stay exactly where the fit put them
        if self.method == "pca":
            return self.model.transform(x).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return np.asarray(self.model.transform(_distances(x, self.train) if self.exact else x), dtype=np.float32)

def project(features, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Fit a map on ``features`` [N, D] and return their coordinates [N, 2]."""
    return Projector(method, seed).fit(features).embedding


def subsample(labels: Mapping[str, np.ndarray], max_points: int = MAX_POINTS,
              seed: int = 0) -> dict[str, np.ndarray]:
    """Indices to keep per domain: at most ``max_points`` in all, stratified by
    (domain, class) so a rare class or the smaller domain does not vanish. Sorted, so
    the kept points keep their dataset order; deterministic for a seed."""
    total = sum(len(v) for v in labels.values())
    if total <= max_points:
        return {d: np.arange(len(v)) for d, v in labels.items()}
    rng = np.random.default_rng(seed)
    out = {}
    for d, y in labels.items():
        y = np.asarray(y)
        keep = []
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            n = max(1, int(len(idx) * max_points / total))
            keep.append(rng.permutation(idx)[:n])
        out[d] = np.sort(np.concatenate(keep)) if keep else np.zeros(0, int)
    return out


class FeatureSetLike(Protocol):
    """What a map is fitted on: ``features[domain]`` [N_d, D] and ``labels[domain]`` [N_d]
    (``tlcore.pretrained_features.FeatureSet``). Row ``i`` of a domain is the same image in
    every set drawn together."""

    features: Mapping[str, np.ndarray]
    labels: Mapping[str, np.ndarray]


@dataclass
class EmbeddingMap:
    """One fitted projector and the coordinates it gave each feature set (a "stage":
    pretrained, after a run), at the same subsampled rows (images) for every stage."""

    projector: Projector
    index: dict[str, np.ndarray]  # domain -> kept row indices
    labels: dict[str, np.ndarray]  # domain -> labels of the kept rows
    class_names: list[str] = field(default_factory=list)
    coords: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # stage -> domain -> [n, 2]

    def add(self, stage: str, fs: FeatureSetLike) -> None:
        """Place another feature set of the same images through the fitted map."""
        self.coords[stage] = {d: self.projector.transform(np.asarray(fs.features[d])[i])
                              for d, i in self.index.items() if d in fs.features}

    def points(self, stage: str) -> dict[str, list]:
        """Columns for a scatter plot: x, y, domain, stage, label, class_name, index
        (the image's row in that domain's test split)."""
        cols: dict[str, list] = {k: [] for k in ("x", "y", "domain", "stage", "label", "class_name", "index")}
        for d, xy in self.coords[stage].items():
            y = self.labels[d]
            cols["x"] += xy[:, 0].tolist()
            cols["y"] += xy[:, 1].tolist()
            cols["domain"] += [d] * len(y)
            cols["stage"] += [stage] * len(y)
            cols["label"] += y.tolist()
            cols["class_name"] += [self.class_names[c] if c < len(self.class_names) else str(c) for c in y]
            cols["index"] += self.index[d].tolist()
        return cols

    def panels(self) -> list[tuple[str, dict]]:
        return [(stage, self.points(stage)) for stage in self.coords]


def fit_map(sets: Sequence[tuple[str, FeatureSetLike]], method: str = "pca", seed: int = 0,
            max_points: int = MAX_POINTS, class_names: Sequence[str] = ()) -> EmbeddingMap:
    """Fit ONE map on every stage's features together (source and target domains, before
    and after), then read each stage's coordinates off that single fit.

    Why together and not "fit on pretrained, transform the rest": a fine-tuned network's
    features can leave the pretrained neighbourhoods entirely, and UMAP's ``transform``
    then piles them onto a few pretrained points (measured on a fine-tuned lab_mnist run:
    trustworthiness 0.52 for the transformed features vs 0.99 when fitted together, with
    the pretrained side unchanged at 0.98). One joint fit keeps both panels in one
    coordinate system, so what moves between them is the features. A stage whose features
    equal an earlier stage's (feature extraction: the backbone was frozen) is not fitted
    twice and gets exactly the same coordinates. ``max_points`` bounds the fitted rows:
    each distinct stage keeps ``max_points / stages`` images, stratified by domain and class.
    """
    if not sets:
        raise ValueError("nothing to map")
    first = sets[0][1]
    distinct: list[tuple[str, FeatureSetLike]] = []
    same_as: dict[str, str] = {}
    for stage, fs in sets:
        if set(fs.features) != set(first.features) or any(
                len(fs.features[d]) != len(first.features[d]) for d in first.features):
            raise ValueError(f"{stage} does not hold the same images as {sets[0][0]}")
        twin = next((s for s, f in distinct if all(np.array_equal(f.features[d], fs.features[d])
                                                   for d in fs.features)), None)
        if twin is None:
            distinct.append((stage, fs))
        else:
            same_as[stage] = twin
    index = subsample({d: np.asarray(first.labels[d]) for d in first.features},
                      max(1, max_points // len(distinct)), seed)
    blocks = [np.asarray(fs.features[d])[index[d]] for _, fs in distinct for d in index]
    projector = Projector(method, seed).fit(np.concatenate(blocks))
    emap = EmbeddingMap(projector, index, {d: np.asarray(first.labels[d])[i] for d, i in index.items()},
                        list(class_names))
    start = 0
    for stage, _ in distinct:
        emap.coords[stage] = {}
        for d, i in index.items():
            emap.coords[stage][d] = projector.embedding[start:start + len(i)]
            start += len(i)
    for stage, twin in same_as.items():
        emap.coords[stage] = emap.coords[twin]
    emap.coords = {stage: emap.coords[stage] for stage, _ in sets}  # the caller's order
    return emap


_warm = {"thread": None}
_warm_lock = threading.Lock()


def warm_up(block: bool = False, wait_while: Callable[[], bool] | None = None) -> threading.Thread:
    """Compile umap's numba kernels in a daemon thread, once per process.

    The first UMAP call in a process imports umap and loads its kernels from numba's disk
    cache (~5 s on 2 busy cores), or compiles them when the cache is empty (~35-55 s,
    once). Doing that at app start on a tiny dataset means the Embeddings page's first map
    takes only its own ~2 s for 2,000 points (``bench/bench_umap.py``: start-up table). Safe
    to call many times (later calls return the same thread). ``wait_while``: hold off while
    it says so (runs training: a person waiting for an answer), checked every 2 s for at
    most 10 minutes."""
    with _warm_lock:
        t = _warm["thread"]
        if t is None:
            def run() -> None:
                try:
                    deadline = time.monotonic() + 600
                    while wait_while is not None and wait_while() and time.monotonic() < deadline:
                        time.sleep(2.0)
                    rng = np.random.default_rng(0)
                    x = rng.normal(size=(60, 8)).astype(np.float32)
                    Projector("umap", 0, n_epochs=10).fit(x).transform(x[:5])
                except Exception:  # warming is an optimisation; the real call reports errors
                    pass

            t = threading.Thread(target=run, name="umap-warm-up", daemon=True)
            t.start()
            _warm["thread"] = t
    if block:
        t.join()
    return t

