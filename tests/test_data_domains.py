"""Domain strings: parsing, errors that teach, loading with shifts."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from tlcore.data import DomainSpec, apply_shift, load_dataset, load_domain, parse_domain


@pytest.mark.parametrize("text, spec", [
    ("mnist", DomainSpec("mnist")),
    ("  MNIST ", DomainSpec("mnist")),
    ("mnist:rotate=3", DomainSpec("mnist", (("rotate", 3),))),
    ("mnist_m:noise=2,blur=1", DomainSpec("mnist_m", (("noise", 2), ("blur", 1)))),
    ("digits: contrast = 0 ", DomainSpec("digits", (("contrast", 0),))),
])
def test_parse_valid(text, spec):
    assert parse_domain(text) == spec
    assert parse_domain(spec.text) == spec  # round trip
    assert parse_domain(spec) is spec


def test_dataset_name_beats_same_named_folder(tmp_path, monkeypatch):
    (tmp_path / "mnist" / "a").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert parse_domain("mnist") == DomainSpec("mnist")
    assert parse_domain("./mnist").is_path


def test_text_is_canonical():
    assert parse_domain("mnist_m:noise=2,blur=1").text == "mnist_m:noise=2,blur=1"


@pytest.mark.parametrize("text, match", [
    ("", "empty domain"),
    ("imagenet", r"unknown dataset 'imagenet'.*mnist.*fashion_mnist"),
    ("mnist:sharpen=1", r"unknown shift 'sharpen'.*rotate.*noise.*blur"),
    ("mnist:rotate=6", r"bad severity '6'.*0-5"),
    ("mnist:rotate=-1", r"bad severity"),
    ("mnist:rotate=1.5", r"bad severity"),
    ("mnist:rotate", r"bad shift 'rotate'"),
    ("mnist:", r"no shifts after ':'"),
    ("mnist:rotate=1,rotate=2", r"given twice"),
    ("/no/such/folder", r"no such folder or zip"),
])
def test_parse_invalid(text, match):
    with pytest.raises(ValueError, match=match):
        parse_domain(text)


def test_load_shifted_digits_changes_images_not_labels():
    base = load_dataset("digits")
    ds = load_domain("digits:rotate=2", seed=0)
    assert ds.name == "digits:rotate=2"
    assert torch.equal(ds.labels, base.labels) and ds.class_names == base.class_names
    assert ds.images.shape == base.images.shape and not torch.equal(ds.images, base.images)
    assert torch.equal(ds.images, apply_shift(base.images, "rotate", 2, seed=0))
    assert ds.meta["shifts"] == [["rotate", 2]] and ds.provenance == base.provenance
    assert load_domain("digits:rotate=2", seed=0) is ds  # memoised
    assert not torch.equal(load_domain("digits:rotate=2", seed=1).images, ds.images)


def test_shifts_apply_in_order():
    base = load_dataset("digits").images
    ds = load_domain("digits:colour=3,noise=1", seed=5)
    expected = apply_shift(apply_shift(base, "colour", 3, seed=5), "noise", 1, seed=6)
    assert ds.images.shape[1] == 3 and torch.equal(ds.images, expected)


def test_unshifted_domain_is_the_dataset():
    assert load_domain("mnist") is load_dataset("mnist")


def test_folder_domain(tmp_path):
    for cls, colour in (("a", (200, 10, 10)), ("b", (10, 10, 200))):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(2):
            buf = io.BytesIO()
            Image.new("RGB", (10, 10), colour).save(buf, format="PNG")
            (tmp_path / "imgs" / cls / f"{i}.png").write_bytes(buf.getvalue())
    root = tmp_path / "imgs"
    spec = parse_domain(str(root))
    assert spec.is_path and spec.dataset == str(root.resolve()) and spec.shifts == ()
    ds = load_domain(spec, size=12)
    assert tuple(ds.images.shape) == (4, 3, 12, 12) and ds.class_names == ("a", "b")
    shifted = load_domain(f"{root}:invert=5", size=12)
    assert shifted.name == "imgs:invert=5"
    assert torch.equal(shifted.images, 255 - ds.images)
    (root / "b" / "0.png").unlink()  # folders are re-read, not memoised
    assert len(load_domain(spec, size=12)) == 3
