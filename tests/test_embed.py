"""Projections and pretrained features, against oracles.

PCA must equal scikit-learn's; a map fitted once must put the same features at the same
place; UMAP must keep a toy dataset's neighbourhoods (trustworthiness, with a random
layout as the negative control) and place held-out points in their own cluster; the
UMAP fast path's neighbours must be a brute-force kNN's, its maps as trustworthy as
default umap-learn's, and its numba kernels read back from the disk cache by a new
process; the pretrained features must be exactly what a feature-extraction run stored
for the same images.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness

from tlcore.embed import (
    UMAP_KERNELS,
    Projector,
    _distances,
    exact_knn,
    fit_map,
    numba_cache_dir,
    project,
    subsample,
    warm_up,
)

ROOT = Path(__file__).resolve().parent.parent


def blobs(n: int = 300, d: int = 20, k: int = 5, seed: int = 0, spread: float = 6.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * spread
    y = rng.integers(0, k, n)
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


def relu_clusters(n: int = 600, d: int = 128, k: int = 10, seed: int = 0):
    """Harder than ``blobs``: clusters on a 16-d latent space, each spread along its own
    4 directions, lifted by a random linear map and a ReLU (like pooled CNN features)."""
    rng = np.random.default_rng(seed)
    centres, spread = rng.normal(size=(k, 16)) * 2.0, rng.normal(size=(k, 4, 16))
    y = np.arange(n) % k
    z = centres[y] + np.einsum("ni,nil->nl", rng.normal(size=(n, 4)), spread[y]) + 0.3 * rng.normal(size=(n, 16))
    x = np.maximum(z @ (rng.normal(size=(16, d)) / 4.0), 0) + 0.05 * np.abs(rng.normal(size=(n, d)))
    return x.astype(np.float32), y


def test_pca_equals_sklearn():
    x, _ = blobs()
    new, _ = blobs(seed=1)
    oracle = PCA(n_components=2).fit(x)
    np.testing.assert_allclose(project(x, "pca"), oracle.transform(x), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(Projector("pca").fit(x).transform(new), oracle.transform(new), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", ["pca", "umap"])
def test_fit_once_same_features_same_coordinates(method):
    x, _ = blobs(200)
    new = x + np.float32(0.3)
    p = Projector(method, seed=0).fit(x)
    np.testing.assert_array_equal(p.transform(x), p.embedding)  # fitted points stay put
    first = p.transform(new)
    np.testing.assert_array_equal(p.transform(new), first)
    assert first.shape == (200, 2) and first.dtype == np.float32
    assert not np.array_equal(first, p.embedding)  # different features do move


def test_umap_is_deterministic_for_a_seed():
    x, _ = blobs(250)
    a, b = project(x, "umap", seed=3), project(x, "umap", seed=3)
    np.testing.assert_array_equal(a, b)


def test_umap_keeps_neighbourhoods_and_random_layout_does_not():
    x, _ = blobs(400, d=30)
    emb = project(x, "umap", seed=0)
    assert trustworthiness(x, emb, n_neighbors=10) > 0.9
    rand = np.random.default_rng(0).normal(size=(len(x), 2))
    assert trustworthiness(x, rand, n_neighbors=10) < 0.7  # the threshold can fail


def test_umap_transform_places_new_points_in_their_cluster():
    x, y = blobs(500, d=30, seed=0)
    fit, held, y_fit, y_held = x[:400], x[400:], y[:400], y[400:]
    p = Projector("umap", seed=0).fit(fit)
    centres = np.stack([p.embedding[y_fit == c].mean(0) for c in range(5)])
    placed = p.transform(held)
    nearest = np.argmin(((placed[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest == y_held).mean() > 0.9


def test_exact_knn_equals_brute_force():
    """Oracle: a full stable argsort of float64 distances (what umap's small-data path does
    on the distance matrix), including rows with exact duplicates (ties go by index)."""
    x, _ = blobs(300, d=20)
    x[10] = x[20] = x[30]  # three identical points: distance-0 ties
    d = _distances(x, x)
    idx, dist = exact_knn(d, 15)
    assert idx.shape == dist.shape == (300, 15) and idx.dtype == np.int32 and dist.dtype == np.float32
    d64 = np.sqrt(((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1))
    oracle = np.argsort(d64, axis=1, kind="stable")[:, :15]
    np.testing.assert_allclose(dist, np.take_along_axis(d64, oracle, 1), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(idx, oracle)
    np.testing.assert_array_equal(idx[20, :3], [10, 20, 30])
    assert (idx[:, 0] == np.arange(300))[[i for i in range(300) if i not in (20, 30)]].all()  # self first
    assert exact_knn(d[:5, :5], 15)[0].shape == (5, 5)  # k capped at N


def test_umap_fast_path_is_as_trustworthy_as_default_umap():
    """The fast path (exact kNN handed to umap, PCA init, 200 epochs) against umap-learn
    with its defaults (spectral init, 500 epochs here), seeded so the test is repeatable."""
    import umap

    x, _ = relu_clusters()
    ours = trustworthiness(x, project(x, "umap"), n_neighbors=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        default = trustworthiness(x, umap.UMAP(random_state=0).fit_transform(x), n_neighbors=10)
    assert ours >= default - 0.03, (ours, default)
    assert ours > 0.9


def test_umap_kernels_are_read_from_disk_cache_by_a_new_process():
    """What makes the first map after a restart fast: umap's kernels (not cached by
    umap-learn itself) compiled once land in numba_cache_dir(), and a new process loads
    them instead of compiling (numba counts a miss for every compile)."""
    x, _ = blobs(200)
    Projector("umap").fit(x)  # fills the cache if this is the first fit on this machine
    for module, name in UMAP_KERNELS:
        kernel = getattr(sys.modules[module], name)
        assert Path(kernel.stats.cache_path).is_relative_to(numba_cache_dir())
        assert list(Path(kernel.stats.cache_path).glob(f"*.{kernel.py_func.__name__}-*.nbi")), name
    child = (  # the child builds its data with this module's own blobs (a test module is not imported)
        "import json, sys\nimport numpy as np\n" + inspect.getsource(blobs) +
        "from tlcore.embed import UMAP_KERNELS, Projector\n"
        "Projector('umap').fit(blobs(200)[0])\n"
        "print(json.dumps({n: [sum(getattr(sys.modules[m], n).stats.cache_hits.values()),\n"
        "                      sum(getattr(sys.modules[m], n).stats.cache_misses.values())]\n"
        "                  for m, n in UMAP_KERNELS}))\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache_dir())}
    out = subprocess.run([sys.executable, "-c", child], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    for name, (hits, misses) in stats.items():
        assert hits >= 1 and misses == 0, (name, hits, misses)


def test_projector_rejects_bad_input():
    with pytest.raises(ValueError):
        Projector("tsne")
    p = Projector("pca").fit(blobs(50)[0])
    with pytest.raises(ValueError):
        p.transform(np.zeros((3, 7)))
    with pytest.raises(ValueError):
        Projector("pca").fit(np.full((5, 3), np.nan))


def test_subsample_is_stratified_bounded_and_deterministic():
    rng = np.random.default_rng(0)
    labels = {"source": rng.integers(0, 10, 3000), "target": np.r_[np.zeros(990, int), np.ones(10, int)]}
    idx = subsample(labels, max_points=800, seed=0)
    assert sum(len(v) for v in idx.values()) <= 800
    assert set(labels["target"][idx["target"]]) == {0, 1}  # the rare class survives
    assert len(idx["source"]) > 2 * len(idx["target"])  # domains keep their proportions
    assert all(np.all(np.diff(v) > 0) for v in idx.values())
    again = subsample(labels, max_points=800, seed=0)
    assert all(np.array_equal(idx[d], again[d]) for d in idx)
    small = subsample({"source": np.arange(5)}, max_points=800)
    np.testing.assert_array_equal(small["source"], np.arange(5))


class FS:
    def __init__(self, features, labels):
        self.features, self.labels = features, labels


def test_map_draws_every_stage_through_one_fit():
    x, y = blobs(300, k=3)
    labels = {"source": y[:200], "target": y[200:]}
    pre = FS({"source": x[:200], "target": x[200:]}, labels)
    same = FS({d: v.copy() for d, v in pre.features.items()}, labels)
    moved = FS({d: v * 2 for d, v in pre.features.items()}, labels)
    emap = fit_map([("pretrained", pre), ("frozen", same), ("tuned", moved)], "pca", max_points=300,
                   class_names=["a", "b", "c"])
    assert len(emap.projector.train) == 300  # two distinct stages, 150 images each
    (t1, before), (t2, frozen), (t3, after) = emap.panels()
    assert (t1, t2, t3) == ("pretrained", "frozen", "tuned")
    assert len(before["x"]) == 150 and set(before["domain"]) == {"source", "target"}
    assert before["x"] == frozen["x"] and before["y"] == frozen["y"]  # same features, same place
    assert before["index"] == after["index"] and before["x"] != after["x"]
    i = before["index"][0]
    assert before["class_name"][0] == ["a", "b", "c"][labels[before["domain"][0]][i]]
    # PCA of the joint fit is sklearn's PCA of the stacked kept rows
    rows = np.concatenate([pre.features[d][emap.index[d]] for d in emap.index]
                          + [moved.features[d][emap.index[d]] for d in emap.index])
    np.testing.assert_allclose(np.c_[before["x"], before["y"]], PCA(2).fit_transform(rows)[:150],
                               rtol=1e-3, atol=1e-3)
    emap.add("again", moved)  # a later set through the fitted map lands where the fit put it
    np.testing.assert_allclose(emap.points("again")["x"], after["x"], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError):
        fit_map([("a", pre), ("b", FS({"source": x[:10]}, labels))])


def test_joint_umap_map_keeps_moved_features_readable():
    """The reason maps are fitted jointly: features that moved far (scaled and shifted,
    as fine-tuning does) keep their clusters, where transform-only would pile them up."""
    x, y = blobs(400, d=30, k=4)
    pre = FS({"source": x}, {"source": y})
    moved = FS({"source": x * 0.3 + 20}, {"source": y})
    emap = fit_map([("pretrained", pre), ("after", moved)], "umap")
    after = emap.points("after")
    xy = np.c_[after["x"], after["y"]]
    assert trustworthiness(moved.features["source"][emap.index["source"]], xy, n_neighbors=10) > 0.85
    only_pre = Projector("umap").fit(x)
    assert trustworthiness(moved.features["source"], only_pre.transform(moved.features["source"]),
                           n_neighbors=10) < 0.7  # the failure the joint fit avoids (~0.56)


def test_warm_up_runs_once():
    t = warm_up()
    assert warm_up() is t
    t.join(timeout=120)
    assert not t.is_alive()


def test_picture_is_enlarged_by_whole_pixels():
    from tlcore.pretrained_features import picture

    grey = np.arange(64, dtype=np.uint8).reshape(1, 8, 8)
    big = picture(grey, size=112)
    assert big.shape == (112, 112) and big[13, 13] == grey[0, 0, 0] and big[14, 14] == grey[0, 1, 1]
    assert picture(np.zeros((3, 28, 28), np.uint8)).shape == (112, 112, 3)


@pytest.mark.slow
def test_pretrained_features_match_a_feature_extraction_run(tmp_path, monkeypatch):
    """The oracle: a frozen backbone's stored features are the pretrained features of the
    same images, in the same order. A fine-tuned run's are not."""
    monkeypatch.setenv("TLAB_CACHE_DIR", str(tmp_path / "cache"))
    from tests.engine_helpers import TINY
    from tlcore.config import RunConfig
    from tlcore.jobs import execute
    from tlcore.paths import cache_dir
    from tlcore.pretrained_features import config_key, from_key, pretrained_features, run_features
    from tlcore.runs import Store

    store = Store(tmp_path / "data")
    cfg = TINY.replace(target="digits:rotate=3", epochs=1)
    rids = {s: store.submit(cfg.replace(strategy=s))[0] for s in ("feature_extraction", "finetune_all")}
    for rid in rids.values():
        execute(store, rid)
    names = store.get(rids["feature_extraction"]).metrics["class_names"]
    fe = run_features(store.load_artifacts(rids["feature_extraction"]), names)
    ft = run_features(store.load_artifacts(rids["finetune_all"]), names)

    pre = pretrained_features(cfg)
    assert set(pre.features) == {"source", "target"}
    for d in pre.features:
        np.testing.assert_allclose(pre.features[d], fe.features[d], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(pre.labels[d], fe.labels[d])
        assert not np.allclose(pre.features[d], ft.features[d], atol=1e-3)
    assert any((cache_dir() / "features").glob("*.pt"))
    again = pretrained_features(from_key(config_key(cfg.replace(strategy="lp_ft", lr=0.1))))
    np.testing.assert_array_equal(again.features["source"], pre.features["source"])
    assert config_key(cfg) != config_key(cfg.replace(seed=1))
    assert isinstance(from_key(config_key(cfg)), RunConfig)
