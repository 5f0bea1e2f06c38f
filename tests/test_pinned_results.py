"""Pinned numbers: a handful of configs, one per kind of training step, must keep their run
ids and give the same numbers after any refactor of the trainer, the strategies or the
config (CPU training is deterministic).

The values were recorded with one torch thread (the ``one_thread`` fixture) on this
project's CPU build of torch, before the trainer was split into steps (issue #13). Two
threads sum in another order and move a loss by up to ~0.3% (transplant); another CPU's
kernels may too, hence the tolerances: a real change of behaviour (a step skipped, a
wrong learning rate, a knob read wrongly) moves these by far more. If a change is *meant* to alter results, bump
``tlcore.config.RESULTS_VERSION`` and re-record them; a refactor must never need to.
"""

from __future__ import annotations

import pytest

from tests.engine_helpers import TINY
from tlcore.train import run

CONFIGS = {
    "feature_extraction": TINY.replace(strategy="feature_extraction", epochs=3),
    "finetune_top": TINY.replace(strategy="finetune_top", epochs=3, top_k=2),
    "lp_ft": TINY.replace(strategy="lp_ft", epochs=3, probe_epochs=1, optimizer="sgd", lr=0.05),
    "transplant": TINY.replace(strategy="transplant", epochs=2, extra=(("cut", 1.0), ("frozen_copy", 0.0))),
    "dann": TINY.replace(strategy="dann", target="digits:rotate=3", epochs=2, extra=(("dann_weight", 0.5),)),
    "coral": TINY.replace(strategy="coral", target="digits:rotate=3", epochs=2, augment=True),
}

# name: (run id, test loss, test accuracy, target accuracy, train loss per epoch)
PINNED = {
    "feature_extraction": ("3de5d8705e207d1a", 3.035450134277344, 0.10000000149011612, None,
        [3.6880521393, 3.2162206268, 3.0691002083]),
    "finetune_top": ("942d3c3efa311412", 1.3506192016601561, 0.49000000953674316, None,
        [2.3100691032, 1.1022147465, 0.9001341772]),
    "lp_ft": ("2c3b516bfa4b0a38", 12.164906311035157, 0.24500000476837158, None,
        [12.2185398102, 6.0436303544, 3.7830386066]),
    "transplant": ("8ea94ecadde5d6eb", 2.289664077758789, 0.10499999672174454, None,
        [2.5795128918, 1.8773084831]),
    "dann": ("98f3c56c0fce179e", 1.1455750274658203, 0.6449999809265137, 0.23000000417232513,
        [2.7166789818, 1.3396426773]),
    "coral": ("de54663fc735a61e", 1.437833137512207, 0.41499999165534973, 0.11999999731779099,
        [2.2289609337, 1.1135588455]),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_config_keeps_its_run_id(name):
    assert CONFIGS[name].run_id() == PINNED[name][0]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_config_gives_its_pinned_numbers(name, one_thread):
    _, test_loss, test_acc, target_acc, train_loss = PINNED[name]
    r = run(CONFIGS[name])
    assert r.status == "done", r.message
    assert r.metrics["test_accuracy"] == pytest.approx(test_acc, abs=0.011)  # 2 of 200 images
    assert r.metrics["test_loss"] == pytest.approx(test_loss, rel=5e-3)
    assert [h["train_loss"] for h in r.history] == pytest.approx(train_loss, rel=5e-3)
    if target_acc is None:
        assert "target_accuracy" not in r.metrics
    else:
        assert r.metrics["target_accuracy"] == pytest.approx(target_acc, abs=0.011)
