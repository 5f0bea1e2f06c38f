"""The dataset disk cache: fast second loads, atomic writes, keys that see source changes,
and the numpy-only unpickler that guards the package pickles."""

from __future__ import annotations

import io
import os
import pickle
import time

import numpy as np
import pytest
import torch

from tlcore.data import DATASETS, ImageDataset, Provenance, cache, load_dataset
from tlcore.data.safe_pickle import load_numpy_pickle


def _toy(name: str = "toy") -> ImageDataset:
    return ImageDataset(
        name=name,
        images=torch.arange(2 * 1 * 4 * 4, dtype=torch.uint8).reshape(2, 1, 4, 4),
        labels=torch.tensor([0, 1]),
        class_names=("a", "b"),
        provenance=Provenance("toy source", "CC0", files=(("/x", "0" * 64),), notes="n"),
        official_test=torch.tensor([False, True]),
        meta={"k": [1, 2]},
    )


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TLAB_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_second_load_of_mnist_is_fast():
    """The issue's requirement: a second load of a default dataset takes < 2 s (from disk,
    not the memo). Measured here at ~0.1 s; the margin absorbs a busy 2-core machine."""
    cache.clear_memo()
    first = load_dataset("mnist")  # builds the cache file if this is the first run
    key = cache.cache_key("mnist", DATASETS.get("mnist").version, DATASETS.get("mnist").sources())
    assert cache.cache_path(key).exists()
    cache.clear_memo()
    t0 = time.perf_counter()
    second = load_dataset("mnist")
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"second load of mnist took {elapsed:.2f} s"
    assert second is not first and torch.equal(second.images, first.images)
    assert torch.equal(second.labels, first.labels)
    assert second.provenance == first.provenance
    assert load_dataset("mnist") is second  # and then the memo


def test_roundtrip_keeps_everything(tmp_cache):
    ds = _toy()
    path = cache.save_cached("toy-v1-abc", ds)
    assert path.parent == tmp_cache / "datasets"
    back = cache.load_cached("toy-v1-abc")
    assert torch.equal(back.images, ds.images) and torch.equal(back.labels, ds.labels)
    assert torch.equal(back.official_test, ds.official_test)
    assert back.class_names == ds.class_names and back.provenance == ds.provenance
    assert back.meta == ds.meta and back.name == "toy"


def test_write_is_atomic_and_leaves_no_temp_files(tmp_cache, monkeypatch):
    cache.save_cached("toy-v1-abc", _toy())

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as if the process died mid-write

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        cache.save_cached("toy-v1-def", _toy())
    names = os.listdir(tmp_cache / "datasets")
    assert names == ["toy-v1-abc.pt"]  # no half file, no temp file, old file intact
    assert cache.load_cached("toy-v1-abc") is not None


def test_corrupt_file_is_dropped(tmp_cache):
    path = cache.save_cached("toy-v1-abc", _toy())
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable"):
        assert cache.load_cached("toy-v1-abc") is None
    assert not path.exists()


def test_key_depends_on_version_and_source_hashes():
    files = (("/data/a.gz", "1" * 64),)
    k = cache.cache_key("mnist", "1", files)
    assert k.startswith("mnist-v1-")
    assert cache.cache_key("mnist", "1", files) == k
    assert cache.cache_key("mnist", "2", files) != k
    assert cache.cache_key("mnist", "1", (("/data/a.gz", "2" * 64),)) != k


def test_changed_source_file_changes_key(tmp_path):
    f = tmp_path / "raw.bin"
    f.write_bytes(b"one")
    k1 = cache.cache_key("x", "1", cache.file_digests([f]))
    time.sleep(0.01)
    f.write_bytes(b"two")
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 10**9))  # mtime surely changes
    assert cache.cache_key("x", "1", cache.file_digests([f])) != k1


def test_remove_stale_keeps_only_current(tmp_cache):
    for key in ("toy-v1-aaa", "toy-v2-bbb", "toy_b-v1-ccc"):
        cache.save_cached(key, _toy())
    removed = cache.remove_stale("toy", keep="toy-v2-bbb")
    assert sorted(p.name for p in removed) == ["toy-v1-aaa.pt"]
    assert sorted(os.listdir(tmp_cache / "datasets")) == ["toy-v2-bbb.pt", "toy_b-v1-ccc.pt"]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_numpy_unpickler_loads_arrays_only():
    arrays = ((np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2])),)
    back = load_numpy_pickle(io.BytesIO(pickle.dumps(arrays)))
    assert np.array_equal(back[0][0], arrays[0][0]) and back[0][1].dtype == arrays[0][1].dtype
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays"):
        load_numpy_pickle(io.BytesIO(pickle.dumps(_Evil())))
