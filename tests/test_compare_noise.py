"""Winner sentences respect noise: a gap the test set's size can explain is not a win."""

from __future__ import annotations

import math

import pytest

from tlcore.compare import (
    SeedGroup,
    group_winner_sentence,
    noise_points,
    scored_images,
    winner_sentence,
)
from tlcore.config import RunConfig
from tlcore.runs import RunRecord

BASE = RunConfig(dataset="digits", labels_per_class=5)


def rec(strategy: str, acc: float, n_test: int = 450, seed: int = 0, metric: str = "test_accuracy"):
    cfg = BASE.replace(strategy=strategy, seed=seed)
    prov = {"data": {"source": {"test": n_test}, "target": {"test": n_test}}}
    return RunRecord(cfg.run_id(), cfg, "done", 0, 0, 1, "", {metric: acc}, prov, 1.0, None)


def test_noise_points_is_two_binomial_standard_errors():
    # by hand: p = 0.5 on 100 images each: se = sqrt(0.25/100 + 0.25/100) = 0.0707 -> 14.1 points
    assert noise_points(0.5, 0.5, 100) == pytest.approx(200 * math.sqrt(0.005))
    assert noise_points(1.0, 1.0, 100) == 0.0
    assert noise_points(0.9, 0.8, 10_000) < noise_points(0.9, 0.8, 100)


def test_the_issue_s_case_is_within_noise():
    """'Fine-tune all won with 53.8%, 1.1 points ahead' from one seed and 450 test images."""
    s = winner_sentence([rec("finetune_all", 0.538), rec("feature_extraction", 0.527)])
    assert s.startswith("Within noise") and "450 test images" in s and "more seeds" in s
    assert "won" not in s


def test_a_gap_beyond_the_noise_is_a_win_that_still_names_one_seed():
    s = winner_sentence([rec("finetune_all", 0.92), rec("feature_extraction", 0.70), rec("scratch", 0.5)])
    assert "won with 92.0%" in s and "22.0 points ahead" in s and "one seed" in s


def test_more_test_images_shrink_the_bound():
    few = winner_sentence([rec("finetune_all", 0.80, 100), rec("scratch", 0.75, 100)])
    many = winner_sentence([rec("finetune_all", 0.80, 20_000), rec("scratch", 0.75, 20_000)])
    assert few.startswith("Within noise") and "won with" in many


def test_target_accuracy_is_named_as_the_target_domain():
    s = winner_sentence([rec("dann", 0.9, metric="target_accuracy"), rec("source_only", 0.5, metric="target_accuracy")],
                        "target_accuracy")
    assert "target-domain accuracy" in s


def test_test_images_falls_back_to_the_config():
    r = RunRecord("x", BASE, "done", 0, 0, 1, "", {"test_accuracy": 0.5, "class_names": list("abc")}, {}, 1.0, None)
    assert scored_images(r) == BASE.test_per_class * 3


def test_seed_means_need_to_beat_the_test_noise_too():
    """Two seeds that agree closely (tiny spread) on 60 test images: the gap of 5 points is
    larger than the spread but within what 60 images can explain."""
    def group(strategy, accs):
        return SeedGroup(strategy, BASE.replace(strategy=strategy),
                         [rec(strategy, a, n_test=60, seed=i) for i, a in enumerate(accs)])

    close = [group("finetune_all", [0.80, 0.801]), group("scratch", [0.75, 0.751])]
    assert group_winner_sentence(close).startswith("Too close")
    far = [group("finetune_all", [0.95, 0.951]), group("scratch", [0.55, 0.551])]
    assert "won on mean" in group_winner_sentence(far)
