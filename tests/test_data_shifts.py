"""Corruption shifts: identity at 0, monotone in severity, deterministic, oracle cases."""

from __future__ import annotations

import pytest
import torch

from tlcore.data import SHIFTS, apply_shift, load_dataset

NAMES = SHIFTS.names()


@pytest.fixture(scope="module")
def mnist_sample():
    return load_dataset("mnist").images[:256]


@pytest.fixture(scope="module")
def colour_sample():
    return load_dataset("mnist_m").images[:256]


@pytest.fixture(scope="module")
def small_sample():
    return load_dataset("digits").images[:256]  # 8x8: magnitudes must not round to nothing


def _dist(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape[1] != b.shape[1]:  # colour turns grey into RGB: compare against grey x3
        a = a.expand(-1, b.shape[1], -1, -1)
    return (a.float() - b.float()).abs().mean().item()


def test_registry_has_the_issue_shifts():
    assert {"rotate", "noise", "blur", "contrast", "invert", "colour", "scale"} <= set(NAMES)
    for spec in SHIFTS:
        assert spec.description and len(spec.levels) == 5


@pytest.mark.parametrize("name", NAMES)
def test_severity_zero_is_identity(name, mnist_sample):
    out = apply_shift(mnist_sample, name, 0, seed=3)
    assert torch.equal(out, mnist_sample) and out is not mnist_sample


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sample", ["mnist_sample", "colour_sample", "small_sample"])
def test_distance_grows_with_severity(name, sample, request):
    x = request.getfixturevalue(sample)
    d = [_dist(x, apply_shift(x, name, s, seed=0)) for s in range(6)]
    assert d[0] == 0
    if sample == "small_sample" and name == "pixelate":
        # 8 px images have too few block sizes (documented in shifts._pixelate):
        # only ask that every severity visibly changes them, rising up to severity 3.
        assert d[1] > 5 and d[1] < d[2] < d[3] and min(d[3:]) > d[2], d
        return
    assert all(b > a for a, b in zip(d, d[1:], strict=False)), d


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_and_determinism(name, mnist_sample):
    a = apply_shift(mnist_sample, name, 3, seed=1)
    b = apply_shift(mnist_sample, name, 3, seed=1)
    assert a.dtype == torch.uint8 and a.shape[0] == 256 and a.shape[2:] == (28, 28)
    assert a.shape[1] == (3 if name == "colour" else 1)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["rotate", "noise", "colour", "invert"])
def test_seed_changes_random_shifts(name, mnist_sample):
    assert not torch.equal(apply_shift(mnist_sample, name, 3, seed=1),
                           apply_shift(mnist_sample, name, 3, seed=2))


def test_oracles():
    x = torch.tensor([[[[0, 255], [100, 50]]]], dtype=torch.uint8)  # [1, 1, 2, 2]
    assert apply_shift(x, "invert", 5).tolist() == [[[[255, 0], [155, 205]]]]
    # contrast 5 squeezes to 12% around the mean 101.25
    c = apply_shift(x, "contrast", 5)[0, 0].float()
    assert torch.allclose(c, 101.25 + 0.12 * (x[0, 0].float() - 101.25), atol=0.51)
    flat = torch.full((2, 3, 8, 8), 77, dtype=torch.uint8)
    for name in ("blur", "rotate", "scale", "pixelate"):  # a flat image stays flat
        assert torch.equal(apply_shift(flat, name, 5), flat), name
    # rotating 28x28 MNIST digits by 60 degrees keeps their ink roughly (border is black)
    m = load_dataset("mnist").images[:64]
    r = apply_shift(m, "rotate", 5)
    assert r.float().mean() == pytest.approx(m.float().mean(), rel=0.1)


def test_bad_input():
    x = torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="severity"):
        apply_shift(x, "blur", 6)
    with pytest.raises(ValueError, match="severity"):
        apply_shift(x, "blur", 1.5)
    with pytest.raises(KeyError, match="known"):
        apply_shift(x, "sharpen", 1)
    with pytest.raises(ValueError, match="uint8"):
        apply_shift(x.float(), "blur", 1)
