"""The freeze-plan preview and the measured run-time estimate (``tlcore.estimate``).

Oracles: the trainable count must equal what the trainer's own freeze logic leaves
trainable (head only for feature extraction, everything for fine-tune all), and the time
estimate must land within a factor of 3 of a real short run on the same machine.
"""

from __future__ import annotations

import pytest

from tests.engine_helpers import TINY
from tlcore.estimate import (
    apply_edits,
    estimate_seconds,
    fit_to_backbone,
    lr_multiplier,
    plan,
    timing_key,
)
from tlcore.train import run

BODY = ["stem", "block1", "block2", "block3"]  # the lab ResNet's groups below the head


def test_plan_counts_follow_the_strategy():
    fe = plan(TINY.replace(strategy="feature_extraction"))
    head = next(g for g in fe.groups if g.name == "head")
    assert head.params == 128 * 10 + 10 and head.output_shape == (10,)
    assert [g.name for g in fe.groups] == [*BODY, "head"]
    assert fe.phases[0].trainable == ("head",)
    assert fe.phases[0].trainable_params == head.params
    assert fe.phases[0].frozen_prefix == len(BODY)

    full = plan(TINY.replace(strategy="finetune_all"))
    assert full.phases[0].trainable_params == full.total_params == sum(g.params for g in full.groups)
    assert full.phases[0].frozen_prefix == 0

    top = plan(TINY.replace(strategy="finetune_top", top_k=2))
    assert top.phases[0].trainable == ("block2", "block3", "head")
    assert top.phases[0].frozen_prefix == 2
    # a BN policy that updates frozen statistics makes the frozen groups a moving function
    assert plan(TINY.replace(strategy="finetune_top", top_k=2, bn_policy="stats")).phases[0].frozen_prefix == 0


def test_plan_phases_and_invalid_groups():
    lp = plan(TINY.replace(strategy="lp_ft", epochs=5, probe_epochs=2))
    assert [(p.first_epoch, p.last_epoch) for p in lp.phases] == [(1, 2), (3, 5)]
    assert lp.phases[0].trainable == ("head",) and lp.phases[1].trainable_params == lp.total_params
    with pytest.raises(ValueError, match="unknown layer groups"):
        plan(TINY.replace(strategy="custom", trainable_groups=("layer4",)))


def test_table_edits_map_to_config():
    cfg = TINY.replace(strategy="feature_extraction")
    p = plan(cfg)
    same = {g.name: g.name == "head" for g in p.groups}
    assert apply_edits(cfg, p, same, {}) == cfg
    ticked = apply_edits(cfg, p, {**same, "block3": True, "stem": True}, {})
    assert ticked.strategy == "custom" and ticked.trainable_groups == ("stem", "block3")
    # unticking the head changes nothing: it always trains
    assert apply_edits(cfg, p, {**same, "head": False}, {}) == cfg
    mult = apply_edits(cfg, p, same, {"block3": 0.5, "stem": cfg.backbone_lr_mult})
    assert mult.lr_mults == (("block3", 0.5),) and mult.strategy == cfg.strategy
    assert lr_multiplier(mult, "block3") == 0.5 and lr_multiplier(mult, "stem") == cfg.backbone_lr_mult


def test_fit_to_backbone_and_timing_key():
    cfg = TINY.replace(strategy="custom", trainable_groups=("stem", "block3"), top_k=4,
                       lr_mults=(("block3", 0.5), ("stem", 2.0)))
    fitted = fit_to_backbone(cfg, ["stem", "layer1", "layer2", "head"])
    assert fitted.trainable_groups == ("stem",) and fitted.lr_mults == (("stem", 2.0),)
    assert fitted.top_k == 3
    assert timing_key(cfg.replace(lr=0.5, seed=3, weights="none")) == timing_key(cfg)
    assert timing_key(cfg.replace(epochs=9)) != timing_key(cfg)


def test_finetune_all_is_estimated_slower_than_feature_extraction():
    fe = estimate_seconds(TINY.replace(strategy="feature_extraction"), repeats=2)
    fa = estimate_seconds(TINY.replace(strategy="finetune_all"), repeats=2)
    assert fe.seconds == pytest.approx(sum(fe.parts.values()))
    assert fe.parts["frozen features"] > 0 and fa.parts["frozen features"] == 0
    assert fa.parts["training"] > fe.parts["training"]
    assert fa.seconds > fe.seconds


@pytest.mark.parametrize("strategy", ["finetune_all", "finetune_top"])
def test_estimate_is_within_3x_of_a_real_run(strategy, tmp_path, monkeypatch):
    # a fresh feature cache: the estimate assumes the frozen prefix is computed, not read
    monkeypatch.setenv("TLAB_CACHE_DIR", str(tmp_path / "cache"))
    cfg = TINY.replace(strategy=strategy, top_k=1, labels_per_class=10, epochs=2)
    tries = []
    for attempt in range(2):  # the CPU is shared: a burst of other work can hit one side only
        est = estimate_seconds(cfg)
        result = run(cfg.replace(seed=attempt))  # another seed: its frozen features are not cached
        assert result.status == "done"
        tries.append((est.seconds, result.seconds))
        if 1 / 3 < est.seconds / result.seconds < 3:
            return
    pytest.fail(f"estimate vs real run, seconds: {tries} (parts of the last estimate: {est.parts})")
