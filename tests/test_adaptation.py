"""Domain-adaptation strategies on a small shifted pair: they run, they record what they
should, DANN's discriminator is in the loop and its features move toward the target."""

from __future__ import annotations

import pytest

from tlcore.config import RunConfig
from tlcore.strategies import STRATEGIES
from tlcore.train import run

PAIR = RunConfig(backbone="lab_mnist", dataset="digits", target="digits:colour=5,invert=5", labels_per_class=10,
                 val_per_class=5, test_per_class=30, epochs=4, batch_size=32, lr=3e-3,
                 extra=(("target_pool_max", 600.0),))


@pytest.fixture(scope="module")
def results():
    # each method keeps the settings it has (source-only has no target pool to cap)
    return {s: run(STRATEGIES.get(s).own_settings(PAIR)) for s in ("source_only", "dann", "coral", "target_oracle")}


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


def test_every_run_with_a_target_keeps_feature_snapshots_per_epoch(results):
    """Row 0 is before training, then one per epoch, on the same sampled images; the
    per-epoch A-distance is recorded beside them."""
    from tlcore.train import SNAPSHOT_PER_CLASS
    from tlcore.transfer.adapt_study import snapshot_sets

    for name, r in results.items():
        a = r.artifacts
        n_src, n_tgt = len(a["snapshot_index_test"]), len(a["snapshot_index_target"])
        assert n_src == n_tgt == SNAPSHOT_PER_CLASS * 10
        assert a["snapshots_test"].shape[:2] == (PAIR.epochs + 1, n_src), name
        assert all(-2.0 <= e["a_distance"] <= 2.0 for e in r.history), name
        snaps = snapshot_sets(a)
        assert len(snaps) == PAIR.epochs + 1
        # the last snapshot is the final network's features of the same images
        final = a["features_target"][a["snapshot_index_target"]]
        assert abs(snaps[-1].features["target"] - final.numpy()).max() < 1e-2 * (1 + float(final.abs().max()))
        assert (snaps[0].labels["target"] == a["labels_target"][a["snapshot_index_target"]].numpy()).all()
    # fine-tuning moved the features; the snapshots see it
    s = snapshot_sets(results["dann"].artifacts)
    assert abs(s[0].features["source"] - s[-1].features["source"]).max() > 0.1


def test_study_summary_and_verdict(results):
    from tlcore.runs import RunRecord
    from tlcore.transfer.adapt_study import (
        METHODS,
        gain,
        markdown_table,
        study_configs,
        summarise,
        verdict,
    )

    recs = [RunRecord(r.config.run_id(), r.config, r.status, 0.0, 0.0, 1.0, "", r.metrics, {}, r.seconds, None,
                      r.history) for r in results.values()]
    rows = summarise(recs)
    assert [r.method for r in rows] == ["source_only", "dann", "coral", "target_oracle"]
    by = {r.method: r for r in rows}
    for m, r in results.items():
        assert by[m].target_accuracy == r.metrics["target_accuracy"]
        assert by[m].a_distance_after == r.metrics["a_distance_after"]
    g = gain(rows)
    expect = (results["dann"].metrics["target_accuracy"] - results["source_only"].metrics["target_accuracy"]) * 100
    assert abs(g["points"] - expect) < 1e-9 and g["seeds"] == [0]
    span = results["target_oracle"].metrics["target_accuracy"] - results["source_only"].metrics["target_accuracy"]
    assert abs(g["gap_closed"] - expect / 100 / span) < 1e-9
    assert "DANN" in verdict(rows) and "CORAL" in verdict(rows)
    assert markdown_table(rows).count("\n") == 1 + len(rows)
    cfgs = study_configs(PAIR, seeds=(0, 1))  # every registered adaptation method, two seeds
    assert len(cfgs) == 2 * len(METHODS) and len({c.run_id() for c in cfgs}) == len(cfgs)
    with pytest.raises(ValueError, match="target"):
        study_configs(PAIR.replace(target=None))


@pytest.mark.slow
def test_dann_gains_on_mnist_to_mnist_m_on_a_reduced_budget():
    """The reproduction's claim in small: with the study's defaults but half the epochs and
    fewer target images, DANN still beats source-only on MNIST-M's test images by 10
    points, and its discriminator stays in the game (not pinned at 0 or 100%)."""
    from tlcore.transfer.adapt_study import DEFAULT

    cfg = DEFAULT.replace(labels_per_class=REDUCED["labels_per_class"], epochs=REDUCED["epochs"],
                          test_per_class=REDUCED["test_per_class"],
                          extra=(("target_pool_max", REDUCED["target_pool_max"]),))
    so = run(STRATEGIES.get("source_only").own_settings(cfg))
    dann = run(STRATEGIES.get("dann").own_settings(cfg))
    assert so.status == dann.status == "done"
    gain = dann.metrics["target_accuracy"] - so.metrics["target_accuracy"]
    assert gain >= REDUCED["min_gain"], (so.metrics["target_accuracy"], dann.metrics["target_accuracy"])
    assert 0.2 < dann.history[-1]["domain_acc"] < 0.98


# Measured here (2 cores, idle): source-only 0.377 vs DANN 0.603 for seed 0 (0.437 vs 0.633
# for seed 1), both runs together ~18 s. At 30 labels per class the gain shrank to ~1 point:
# short training on few MNIST labels keeps more of the font-digit features' colour tolerance.
REDUCED = {"labels_per_class": 100, "epochs": 4, "test_per_class": 30, "target_pool_max": 3000.0, "min_gain": 0.10}
