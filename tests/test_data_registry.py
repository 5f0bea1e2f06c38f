"""Sweep every registered dataset, then check known facts about the real ones.

The sweep catches a source that registers but returns the wrong shape, dtype, class
count or provenance; the oracle tests pin numbers that only the genuine files produce
(MNIST's first labels and pixel mean, Fashion-MNIST's balanced classes, ...).
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import torch

from tlcore.data import DATASETS, list_datasets, load_dataset
from tlcore.data.base import Provenance
from tlcore.data.photos import Photo, load_photos
from tlcore.data.sources import mnist_m
from tlcore.paths import sha256_file

NAMES = DATASETS.names()
SHA = re.compile(r"^[0-9a-f]{64}$")


def test_expected_datasets_registered():
    assert {"mnist", "fashion_mnist", "fashion_mnist_a", "fashion_mnist_b", "digits",
            "synth_digits", "mnist_m", "animals"} <= set(NAMES)
    assert list_datasets()[0] == "mnist"


@pytest.mark.parametrize("name", NAMES)
def test_dataset_contract(name):
    spec = DATASETS.get(name)
    assert spec.check().available, spec.check().reason
    ds = load_dataset(name)
    n = len(ds)
    assert ds.images.dtype == torch.uint8 and ds.images.ndim == 4
    assert tuple(ds.images.shape[1:]) == spec.shape
    assert ds.labels.dtype == torch.int64 and ds.labels.shape == (n,)
    assert len(ds.class_names) == spec.num_classes == len(set(ds.class_names))
    assert set(ds.labels.unique().tolist()) == set(range(spec.num_classes))
    assert 0 < int(ds.images.max()) <= 255 and ds.images.float().std() > 10
    if ds.official_test is not None:
        assert ds.official_test.dtype == torch.bool and ds.official_test.shape == (n,)
        assert 0 < int(ds.official_test.sum()) < n
    p = ds.provenance
    assert p.source and p.licence and spec.licence and spec.source
    assert p.files, "every source reads at least one file"
    for path, sha in p.files:
        assert SHA.match(sha), (path, sha)
    # the disk cache stores provenance as JSON (Provenance.from_dict reads it back)
    d = ds.provenance.to_dict()
    assert json.loads(json.dumps(d)) == d and Provenance.from_dict(d) == ds.provenance


@pytest.mark.parametrize("name", [n for n in NAMES if DATASETS.get(n).sources is not None])
def test_recorded_sha256_matches_file(name):
    """Each recorded file is on disk and hashes to its recorded sha256 (a stale disk cache
    or a swapped file shows here). Derived datasets (no ``sources``) read their parent's files."""
    files = load_dataset(name).provenance.files
    assert files
    for path, sha in files:
        assert os.path.isfile(path), f"{name} records {path}, which is not a file"
        assert sha256_file(path) == sha, path


def test_mnist_oracle():
    ds = load_dataset("mnist")
    assert tuple(ds.images.shape) == (70000, 1, 28, 28)
    assert ds.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert ds.labels[60000:60010].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert ds.class_counts() == [6903, 7877, 6990, 7141, 6824, 6313, 6876, 7293, 6825, 6958]
    assert ds.official_test.nonzero().min().item() == 60000 and ds.official_test.sum() == 10000
    train_mean = ds.images[:60000].double().mean().item() / 255
    assert train_mean == pytest.approx(0.1307, abs=5e-4)  # the usual normalisation mean


def test_fashion_mnist_oracle():
    ds = load_dataset("fashion_mnist")
    assert tuple(ds.images.shape) == (70000, 1, 28, 28)
    assert ds.class_counts() == [7000] * 10
    assert ds.labels[:5].tolist() == [9, 0, 0, 3, 0]
    assert ds.class_names[9] == "Ankle boot"
    assert ds.images[:60000].double().mean().item() / 255 == pytest.approx(0.2860, abs=5e-4)
    assert int(ds.official_test.sum()) == 10000


def test_fashion_halves_partition_the_full_set():
    full, a, b = (load_dataset(n) for n in ("fashion_mnist", "fashion_mnist_a", "fashion_mnist_b"))
    assert len(a) + len(b) == len(full) and len(a) == len(b) == 35000
    assert a.class_names == full.class_names[:5] and b.class_names == full.class_names[5:]
    assert b.class_counts() == [7000] * 5
    # B's first image is full's first image of class >= 5, relabelled.
    first_b = int((full.labels >= 5).nonzero()[0])
    assert torch.equal(b.images[0], full.images[first_b])
    assert int(b.labels[0]) == int(full.labels[first_b]) - 5
    assert int(a.official_test.sum()) + int(b.official_test.sum()) == 10000


def test_digits_oracle():
    ds = load_dataset("digits")
    assert tuple(ds.images.shape) == (1797, 1, 8, 8)
    assert ds.class_counts() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert ds.labels[:10].tolist() == list(range(10))
    assert int(ds.images.max()) == 255


def test_animals_oracle():
    ds = load_dataset("animals")
    assert tuple(ds.images.shape) == (10000, 1, 28, 28)
    assert ds.class_counts() == [1000] * 10
    assert ds.class_names[0] == "Bear" and ds.class_names[-1] == "Zebra"


def test_mnist_m_is_mnist_blended():
    m, mm = load_dataset("mnist"), load_dataset("mnist_m")
    assert tuple(mm.images.shape) == (70000, 3, 28, 28)
    assert torch.equal(mm.labels, m.labels) and torch.equal(mm.official_test, m.official_test)
    photos = load_photos()
    assert [p["name"] for p in mm.meta["photos"]] == [p.name for p in photos]
    # Independent re-derivation of a few images from the documented recipe:
    # photo k = integers(P), crop corner = floor(u * (size - 27)), out = |patch - digit|.
    rng = np.random.default_rng(mnist_m.SEED)
    which = rng.integers(0, len(photos), len(m))
    u = rng.random((len(m), 2))
    for i in (0, 1, 12345, 69999):
        px = photos[which[i]].pixels
        y0 = int(u[i, 0] * (px.shape[0] - 27))
        x0 = int(u[i, 1] * (px.shape[1] - 27))
        patch = px[y0:y0 + 28, x0:x0 + 28].astype(np.int16)  # [28, 28, 3]
        digit = m.images[i, 0].numpy().astype(np.int16)[..., None]
        expected = np.abs(patch - digit).astype(np.uint8).transpose(2, 0, 1)
        assert np.array_equal(mm.images[i].numpy(), expected), i


def test_mnist_m_blend_rule_on_a_flat_photo():
    flat = Photo("flat", "-", "0" * 64, "test", np.full((40, 50, 3), (10, 200, 255), np.uint8))
    digits = np.array([[[0, 255], [100, 7]]], np.uint8).repeat(14, 1).repeat(14, 2)
    out, which = mnist_m.blend(digits, (flat,))
    assert out.shape == (1, 3, 28, 28) and which.tolist() == [0]
    assert out[0, :, 0, 0].tolist() == [10, 200, 255]  # digit 0: the photo
    assert out[0, :, 0, 27].tolist() == [245, 55, 0]  # digit 255: the photo's negative
    assert out[0, :, 27, 0].tolist() == [90, 100, 155]  # |100 - c|


def test_synth_digits_records_fonts():
    ds = load_dataset("synth_digits")
    assert tuple(ds.images.shape) == (10000, 3, 28, 28)
    assert ds.class_counts() == [1000] * 10
    fonts = ds.meta["fonts"]
    assert len(fonts) >= 5 and all(SHA.match(f["sha256"]) for f in fonts)
    assert all(f["licence"] for f in fonts)
    assert not any("D050000L" in f["path"] for f in fonts)  # Dingbats is not a digit font
    assert len(ds.provenance.files) == len(fonts)
