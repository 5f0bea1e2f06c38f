"""Domain-adaptation strategies on a small shifted pair: they run, they record what they
should, DANN's discriminator is in the loop and its features move toward the target."""

from __future__ import annotations

import pytest

from tlcore.config import RunConfig
from tlcore.train import run

PAIR = RunConfig(backbone="lab_mnist", dataset="digits", target="digits:colour=5,invert=5", labels_per_class=10,
                 val_per_class=5, test_per_class=30, epochs=4, batch_size=32, lr=3e-3,
                 extra=(("target_pool_max", 600.0),))


@pytest.fixture(scope="module")
def results():
    return {s: run(PAIR.replace(strategy=s)) for s in ("source_only", "dann", "coral", "target_oracle")}


def test_all_finish_with_domain_measures(results):
    for name, r in results.items():
        assert r.status == "done", (name, r.message)
        for m in ("target_accuracy", "a_distance_before", "a_distance_after", "mmd2_before", "mmd2_after"):
            assert m in r.metrics, (name, m)


def test_dann_trains_a_discriminator_with_the_ganin_schedule(results):
    h = results["dann"].history
    assert all(0.0 <= e["domain_acc"] <= 1.0 for e in h)
    lambdas = [e["lambda"] for e in h]
    assert lambdas == sorted(lambdas) and lambdas[0] < lambdas[-1] < 1.0
    assert "discriminator" in h[0]["lrs"]


def test_alignment_reduces_the_feature_gap_against_source_only(results):
    """Adapting means the target features move toward the source's: MMD after training
    is lower with DANN and with CORAL than with source-only training on the same pair."""
    base = results["source_only"].metrics["mmd2_after"]
    assert results["dann"].metrics["mmd2_after"] < base
    assert results["coral"].metrics["mmd2_after"] < base


def test_oracle_sees_target_labels(results):
    assert results["target_oracle"].metrics["target_accuracy"] > results["source_only"].metrics["target_accuracy"]


def test_adaptation_without_a_target_is_explained():
    with pytest.raises(ValueError, match="needs a target"):
        run(PAIR.replace(strategy="dann", target=None))
