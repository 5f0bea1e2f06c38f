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
