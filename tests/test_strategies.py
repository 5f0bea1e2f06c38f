"""Sweep every strategy on a tiny dataset: it trains, the loss goes down, it is
deterministic, frozen groups really stay frozen (weights *and* BN statistics) and
trainable ones really move."""

from __future__ import annotations

import pytest
import torch

from tests.engine_helpers import TINY
from tlcore.freeze import BN_TYPES
from tlcore.models import build_backbone
from tlcore.strategies import STRATEGIES
from tlcore.train import run

SWEEP = [n for n in STRATEGIES.names() if not STRATEGIES.get(n).requires_target]


def _cfg(name):
    extra = {"trainable_groups": ("block3",)} if name == "custom" else {}
    return TINY.replace(strategy=name, epochs=4, probe_epochs=2, top_k=1, **extra)


def _group_of(key: str) -> str:
    return "head" if key.startswith("head.") else key.split(".")[1]


@pytest.fixture(scope="module")
def results():
    return {name: run(_cfg(name)) for name in SWEEP}


@pytest.mark.parametrize("name", SWEEP)
def test_strategy_trains_and_loss_goes_down(results, name):
    r = results[name]
    assert r.status == "done", r.message
    losses = [h["train_loss"] for h in r.history]
    assert losses[-1] < losses[0], losses
    assert 0.0 <= r.metrics["test_accuracy"] <= 1.0
    assert len(r.metrics["per_class_accuracy"]) == 10


@pytest.mark.parametrize("name", SWEEP)
def test_strategy_is_deterministic(results, name):
    again = run(_cfg(name))
    assert [h["train_loss"] for h in again.history] == pytest.approx(
        [h["train_loss"] for h in results[name].history], abs=1e-6)
    assert again.metrics["test_accuracy"] == results[name].metrics["test_accuracy"]


@pytest.mark.parametrize("name", SWEEP)
def test_frozen_stays_frozen_trainable_moves(results, name):
    cfg = _cfg(name)
    strategy = STRATEGIES.get(name)
    r = results[name]
    torch.manual_seed(cfg.seed)
    before = build_backbone(cfg.backbone, weights=strategy.weights(cfg)).net
    after = r.model
    groups = after.group_names
    # the groups that trained at any point of the run
    trained = set().union(*(strategy.phase(groups, cfg, e).trainable for e in range(cfg.epochs)))
    only = strategy.phase(groups, cfg, cfg.epochs - 1).only
    sd_before, sd_after = before.state_dict(), after.state_dict()
    bn_names = {n for n, m in after.named_modules() if isinstance(m, BN_TYPES)}
    for key, v in sd_after.items():
        g = _group_of(key)
        if g == "head":
            continue  # a new head: shape differs from the pretrained one
        changed = not torch.equal(v, sd_before[key])
        module = key.rsplit(".", 1)[0]
        if only == "bias" and key.endswith("bias"):
            assert changed, f"{name}: bias {key} should train"
        elif only == "bn" and module in bn_names and key.endswith(("weight", "bias")):
            assert changed, f"{name}: BN parameter {key} should train"
        elif g in trained and only == "all" and v.dtype.is_floating_point:
            assert changed, f"{name}: {key} in trainable group {g} did not change"
        elif g not in trained and only == "all":
            assert not changed, f"{name}: {key} in frozen group {g} changed"
        elif only != "all" and key.endswith("weight") and module not in bn_names:
            assert not changed, f"{name}: conv/linear weight {key} must stay frozen"


def test_bn_policy_stats_updates_running_stats_only():
    cfg = TINY.replace(strategy="feature_extraction", bn_policy="stats", epochs=1)
    r = run(cfg)
    before = build_backbone(cfg.backbone).net.state_dict()
    after = r.model.state_dict()
    assert not torch.equal(after["stages.stem.1.running_mean"], before["stages.stem.1.running_mean"])
    assert torch.equal(after["stages.stem.1.weight"], before["stages.stem.1.weight"])
    assert torch.equal(after["stages.stem.0.weight"], before["stages.stem.0.weight"])


def test_bn_policy_affine_trains_bn_params_not_stats():
    cfg = TINY.replace(strategy="feature_extraction", bn_policy="affine", epochs=1)
    r = run(cfg)
    before = build_backbone(cfg.backbone).net.state_dict()
    after = r.model.state_dict()
    assert not torch.equal(after["stages.stem.1.weight"], before["stages.stem.1.weight"])
    assert torch.equal(after["stages.stem.1.running_mean"], before["stages.stem.1.running_mean"])
    assert torch.equal(after["stages.stem.0.weight"], before["stages.stem.0.weight"])


def test_discriminative_learning_rates():
    r = run(TINY.replace(strategy="finetune_all", lr=1e-2, backbone_lr_mult=0.1, epochs=1,
                         lr_mults=(("stem", 0.01),)))
    lrs = r.history[0]["lrs"]
    assert lrs["head"] == pytest.approx(1e-2)
    assert lrs["block1"] == pytest.approx(1e-3)
    assert lrs["stem"] == pytest.approx(1e-4)


def test_gradual_unfreeze_opens_one_group_per_epoch():
    r = run(TINY.replace(strategy="gradual_unfreeze", epochs=3))
    assert [h["trainable"] for h in r.history] == ["head", "block3, head", "block2, block3, head"]


def test_nothing_trainable_is_explained():
    with pytest.raises(ValueError, match="nothing to train"):
        from tlcore.freeze import Phase
        from tlcore.strategies.base import Strategy

        class Nothing(Strategy):
            def phase(self, groups, cfg, epoch):
                return Phase(frozenset())

        STRATEGIES.add(Nothing("nothing_test", "x", "x"))
        try:
            run(TINY.replace(strategy="nothing_test", epochs=1))
        finally:
            STRATEGIES.remove("nothing_test")


def test_divergence_is_reported_not_plotted():
    r = run(TINY.replace(strategy="finetune_all", lr=1e6, backbone_lr_mult=1.0, optimizer="sgd", epochs=3))
    assert r.status == "diverged"
    assert "Lower the learning rate" in r.message


def test_batch_larger_than_the_data_trains_one_step_per_epoch():
    r = run(TINY.replace(strategy="finetune_top", batch_size=4096, epochs=2))
    assert r.status == "done" and len(r.history) == 2
