"""Stratified splits: exact per-class counts, disjoint, deterministic, shared test set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tlcore.data import Splits, load_dataset, stratified_splits


def _labels(counts: list[int]) -> torch.Tensor:
    return torch.tensor(np.repeat(np.arange(len(counts)), counts)[::-1].copy())


def _per_class(labels: torch.Tensor, index: torch.Tensor, k: int) -> list[int]:
    return torch.bincount(labels[index], minlength=k).tolist()


def test_counts_are_exact_and_disjoint():
    y = _labels([30, 25, 40])
    sp = stratified_splits(y, labels_per_class=5, val_per_class=3, test_per_class=10, seed=1)
    assert isinstance(sp, Splits)
    assert _per_class(y, sp.train, 3) == [5, 5, 5]
    assert _per_class(y, sp.val, 3) == [3, 3, 3]
    assert _per_class(y, sp.test, 3) == [10, 10, 10]
    all_idx = torch.cat([sp.train, sp.val, sp.test])
    assert len(set(all_idx.tolist())) == len(all_idx) == 54
    for t in (sp.train, sp.val, sp.test):
        assert t.dtype == torch.int64 and torch.equal(t, t.sort().values)
    assert sp.sizes() == {"train": 15, "val": 9, "test": 30}


def test_none_budget_uses_the_rest():
    y = _labels([30, 25])
    sp = stratified_splits(y, labels_per_class=None, val_per_class=3, test_per_class=10, seed=0)
    assert _per_class(y, sp.train, 2) == [17, 12]
    assert len(sp.train) + len(sp.val) + len(sp.test) == 55


def test_deterministic_and_seed_dependent():
    y = load_dataset("digits").labels
    kw = dict(labels_per_class=10, val_per_class=5, test_per_class=50)
    a = stratified_splits(y, seed=0, **kw)
    b = stratified_splits(y, seed=0, **kw)
    c = stratified_splits(y, seed=1, **kw)
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("train", "val", "test"))
    assert not torch.equal(a.train, c.train)


def test_test_split_ignores_run_seed_but_follows_split_seed():
    y = load_dataset("digits").labels
    kw = dict(labels_per_class=10, val_per_class=5, test_per_class=50)
    tests = {stratified_splits(y, seed=s, **kw).test for s in range(4)}
    assert len({tuple(t.tolist()) for t in tests}) == 1
    other = stratified_splits(y, seed=0, split_seed=1, **kw).test
    assert not torch.equal(other, next(iter(tests)))


def test_budget_too_big_names_the_class():
    y = _labels([30, 12, 40])
    with pytest.raises(ValueError, match=r"class 1 \('b'\) has 12 images.*10 test \+ 3 val \+ 5 train = 18"):
        stratified_splits(y, labels_per_class=5, val_per_class=3, test_per_class=10, seed=0,
                          class_names=("a", "b", "c"))


def test_one_class_is_rejected():
    with pytest.raises(ValueError, match="at least two classes"):
        stratified_splits(torch.zeros(50, dtype=torch.int64), labels_per_class=5,
                          val_per_class=0, test_per_class=5, seed=0)


def test_bad_arguments():
    y = _labels([10, 10])
    with pytest.raises(ValueError, match="labels_per_class"):
        stratified_splits(y, labels_per_class=0, val_per_class=0, test_per_class=0, seed=0)
    with pytest.raises(ValueError, match="test_per_class"):
        stratified_splits(y, labels_per_class=1, val_per_class=0, test_per_class=-1, seed=0)
    with pytest.raises(ValueError, match="integers"):
        stratified_splits(y.float(), labels_per_class=1, val_per_class=0, test_per_class=0, seed=0)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=2, max_size=6),
    budget=st.one_of(st.none(), st.integers(1, 10)),
    val=st.integers(0, 8),
    test=st.integers(0, 15),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_disjoint_and_exact(counts, budget, val, test, seed):
    y = _labels(counts)
    need = test + val + (budget or 1)
    if min(counts) < need:
        with pytest.raises(ValueError, match="images, but the split asks"):
            stratified_splits(y, labels_per_class=budget, val_per_class=val,
                              test_per_class=test, seed=seed)
        return
    sp = stratified_splits(y, labels_per_class=budget, val_per_class=val,
                           test_per_class=test, seed=seed)
    k = len(counts)
    assert _per_class(y, sp.test, k) == [test] * k
    assert _per_class(y, sp.val, k) == [val] * k
    expected_train = [c - test - val for c in counts] if budget is None else [budget] * k
    assert _per_class(y, sp.train, k) == expected_train
    all_idx = torch.cat([sp.train, sp.val, sp.test]).tolist()
    assert len(set(all_idx)) == len(all_idx)
    assert all(0 <= i < len(y) for i in all_idx)
    # the test set is the same under another run seed
    assert torch.equal(sp.test, stratified_splits(y, labels_per_class=budget, val_per_class=val,
                                                  test_per_class=test, seed=seed + 1).test)


def test_test_pool_keeps_test_images_held_out_and_training_images_out_of_it():
    y = torch.arange(200) % 4
    pool = torch.zeros(200, dtype=torch.bool)
    pool[150:] = True  # like an official test split at the end
    s = stratified_splits(y, labels_per_class=10, val_per_class=5, test_per_class=8, seed=3, test_pool=pool)
    assert pool[s.test].all() and not pool[s.train].any() and not pool[s.val].any()
    assert torch.bincount(y[s.test]).tolist() == [8] * 4
    with pytest.raises(ValueError, match="held-out images"):
        stratified_splits(y, labels_per_class=10, val_per_class=5, test_per_class=20, seed=3, test_pool=pool)


@pytest.mark.parametrize("dataset", ["fashion_mnist_b", "synth_digits", "mnist:rotate=2"])
def test_runs_never_score_on_a_lab_models_pretraining_images(dataset):
    """Every lab-zoo model trains on ``lab_split``'s train part; a run on the same data
    must take its test images from the held-out part only."""
    from tlcore.config import RunConfig
    from tlcore.data import load_dataset, parse_domain
    from tlcore.models.pretrain import lab_split
    from tlcore.rundata import prepare

    data = prepare(RunConfig(dataset=dataset, labels_per_class=20, test_per_class=30))
    pretrain, _ = lab_split(load_dataset(parse_domain(dataset).dataset))
    assert not set(data.splits.test.tolist()) & set(pretrain.tolist())
