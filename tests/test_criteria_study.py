"""The criteria study's bookkeeping on hand-made records: who each criterion picks, its tau,
hits and regret, and the page's judgement of a user's study."""

from __future__ import annotations

import pytest

from tlcore.config import RunConfig
from tlcore.runs import RunRecord
from tlcore.strategies import STRATEGIES
from tlcore.transfer import criteria_study as cs


def _rec(strategy: str, acc: float, dev: float, snd: float, ent: float = 1.0, val: float = 0.9,
         target: str = "mnist_m", seed: int = 0, **settings) -> RunRecord:
    cfg = STRATEGIES.get(strategy).own_settings(
        RunConfig(dataset="mnist", target=target, strategy=strategy, seed=seed, extra=tuple(sorted(settings.items()))))
    crit = {"source_val_accuracy": val, "target_entropy": ent, "snd": snd, "dev": dev}
    return RunRecord(cfg.run_id(), cfg, "done", 0, 0, 1, "", {"target_accuracy": acc, "criteria": crit}, {}, 1.0, None)


PAIR = [_rec("source_only", 0.40, dev=1.0, snd=3.0), _rec("dann", 0.60, dev=0.5, snd=2.0),
        _rec("dann", 0.30, dev=2.0, snd=4.0, dann_weight=1.0), _rec("coral", 0.59, dev=0.7, snd=1.0)]


def test_pair_summary_orients_each_criterion():
    r = cs.summarise_pair(PAIR)
    assert r.best == "DANN"
    # DEV (lower is better) orders the runs exactly as accuracy does: tau 1, picks the best
    assert r.tau["dev"] == pytest.approx(1.0) and r.picked["dev"] == "DANN" and r.hit["dev"]
    assert r.regret_vs_source["dev"] == pytest.approx(0.20)
    # SND picks the strong DANN, 30 points below the best and 10 below source-only
    assert r.picked["snd"] == "DANN (dann_weight 1)" and not r.hit["snd"]
    assert r.regret_vs_source["snd"] == pytest.approx(-0.10)


def test_overall_summary_and_best_criterion():
    other = [_rec(s, a, dev=d, snd=n, target="mnist:rotate=3") for s, a, d, n in
             (("source_only", 0.9, 1.0, 1.0), ("dann", 0.8, 2.0, 2.0), ("coral", 0.85, 1.5, 3.0))]
    pairs, overall = cs.summarise(PAIR + other)
    assert len(pairs) == 2
    assert overall["dev"]["mean_tau"] == pytest.approx(1.0) and overall["dev"]["hit_rate"] == 1.0
    assert cs.best_criterion(overall) == "dev"
    assert "| DEV | 1.00 | 100% |" in cs.markdown_table(overall)


def test_judge_warns_about_methods_the_criterion_says_hurt():
    j = cs.judge(PAIR[:1] + PAIR[2:3], "dev")  # source-only and the strong DANN only
    assert j.worse == ["dann"] and j.picked == "source_only"
    assert cs.judge(PAIR[1:], "dev") is None  # no source-only run to compare with


def test_study_grid_gives_each_candidate_its_own_settings():
    cfgs = cs.study_configs(pairs=[("mnist", "mnist_m")])
    assert len(cfgs) == len(cs.CANDIDATES) and len({c.run_id() for c in cfgs}) == len(cfgs)
    assert all(c.target == "mnist_m" for c in cfgs)
    src = next(c for c in cfgs if c.strategy == "source_only")
    assert src.extra == ()  # source-only has no target pool to cap
    for c in cfgs:
        STRATEGIES.get(c.strategy).check(c)
