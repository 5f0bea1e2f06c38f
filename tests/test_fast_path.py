"""The fast path (frozen prefix computed once) must give the plain loop's numbers."""

from __future__ import annotations

import pytest
import torch

from tests.engine_helpers import TINY
from tlcore.train import run


@pytest.mark.parametrize("strategy,kw", [
    ("feature_extraction", {}),
    ("finetune_top", {"top_k": 1}),
    ("lp_ft", {"probe_epochs": 1}),
])
def test_fast_path_equals_plain_loop(strategy, kw):
    cfg = TINY.replace(strategy=strategy, epochs=3, **kw)
    fast = run(cfg, fast_path=True)
    plain = run(cfg, fast_path=False)
    assert fast.status == plain.status == "done"
    assert max(h["fast_path_cut"] for h in fast.history) > 0, "fast path did not engage"
    assert all(h["fast_path_cut"] == 0 for h in plain.history)
    for a, b in zip(fast.history, plain.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4, abs=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4, abs=1e-5)
    assert fast.metrics["test_accuracy"] == pytest.approx(plain.metrics["test_accuracy"], abs=1 / 200)
    for (k, va), vb in zip(fast.model.state_dict().items(), plain.model.state_dict().values(), strict=True):
        if va.dtype.is_floating_point:
            assert torch.allclose(va, vb, atol=1e-4), k


def test_fast_path_off_when_bn_statistics_train():
    r = run(TINY.replace(strategy="feature_extraction", bn_policy="stats", epochs=1))
    assert r.history[0]["fast_path_cut"] == 0


def test_fast_path_off_with_augmentation():
    r = run(TINY.replace(strategy="feature_extraction", augment=True, epochs=1))
    assert r.history[0]["fast_path_cut"] == 0


@pytest.mark.parametrize("strategy", ["source_only", "dann", "adabn"])
def test_adapting_the_top_groups_takes_the_fast_path_with_the_plain_loops_numbers(strategy):
    """``adapt_top``: the groups below stay frozen, so source and target (the pool the
    adaptation methods draw from, and AdaBN's target, scored through every group after its
    statistics change) are computed once; the numbers are the plain loop's."""
    from tlcore.strategies import STRATEGIES

    cfg = STRATEGIES.get(strategy).own_settings(TINY.replace(
        target="digits:rotate=3", epochs=2, extra=(("adapt_top", 1.0), ("target_pool_max", 200.0))))
    fast, plain = run(cfg, fast_path=True), run(cfg, fast_path=False)
    assert fast.status == plain.status == "done"
    assert fast.history[0]["trainable"] == "block3, head" == plain.history[0]["trainable"]
    assert fast.history[0]["fast_path_cut"] == 3 and plain.history[0]["fast_path_cut"] == 0
    for a, b in zip(fast.history, plain.history, strict=True):
        for key in ("train_loss", "val_loss", "target_loss"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), key
    for key in ("test_accuracy", "target_accuracy"):
        assert fast.metrics[key] == pytest.approx(plain.metrics[key], abs=1e-9), key
    assert fast.metrics["target_loss"] == pytest.approx(plain.metrics["target_loss"], rel=1e-4)


def test_adabn_over_a_frozen_prefix_scores_the_target_with_the_targets_statistics():
    """AdaBN with ``adapt_top`` re-estimates every BatchNorm layer, the frozen ones too, and
    scores the target through them: not source-only's target score."""
    from tlcore.strategies import STRATEGIES

    base = TINY.replace(target="digits:invert=3", epochs=2, extra=(("adapt_top", 1.0),))
    so, ab = (run(STRATEGIES.get(s).own_settings(base)) for s in ("source_only", "adabn"))
    assert so.metrics["test_accuracy"] == ab.metrics["test_accuracy"]  # the same source training
    assert so.metrics["target_loss"] != pytest.approx(ab.metrics["target_loss"], rel=1e-3)
