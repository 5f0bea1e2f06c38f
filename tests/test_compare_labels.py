"""Legend labels name what differs between the runs compared: a strategy setting by its
title, and only on the runs whose strategy has it (auto's candidates are the case)."""

from __future__ import annotations

from tlcore.compare import KNOB, label, varying_fields
from tlcore.config import RunConfig
from tlcore.transfer.criteria_study import auto_configs

PAIR = RunConfig(dataset="digits", target="digits:rotate=3", extra=(("target_pool_max", 400.0),))


def test_auto_candidates_are_told_apart_by_dann_strength_only():
    cfgs = auto_configs(PAIR)
    vary = varying_fields(cfgs)
    assert vary == ["strategy", KNOB + "dann_weight"]  # the shared target pool is not named
    labels = [label(c, vary) for c in cfgs]
    assert labels[:4] == ["Source only", "DANN, DANN strength (λ scale) 0.1", "DANN, DANN strength (λ scale) 0.3",
                          "DANN, DANN strength (λ scale) 1"]
    assert labels[4:] == ["CDAN+E", "Deep CORAL", "MCC", "AdaBN"]  # no strength on runs without one


def test_plain_fields_and_one_setting_alone():
    a, b = PAIR.replace(strategy="dann"), PAIR.replace(strategy="dann", epochs=3, extra=(("dann_weight", 2.0), ("target_pool_max", 400.0)))
    vary = varying_fields([a, b])
    assert vary == ["epochs", KNOB + "dann_weight"]
    assert [label(c, vary) for c in (a, b)] == ["epochs=15, DANN strength (λ scale) 0.3",
                                                "epochs=3, DANN strength (λ scale) 2"]
    assert varying_fields([a, a]) == [] and varying_fields([]) == []
