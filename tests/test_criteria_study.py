"""The criteria study's bookkeeping on hand-made records: who each criterion picks, its tau,
hits and regret, and the page's judgement of a user's study."""

from __future__ import annotations

import re

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
    assert cs.best_criterion(overall) == "dev"  # its picks gained most and never lost to source-only
    assert overall["snd"]["worst_vs_source"] == pytest.approx(-0.10)  # SND's pick lost: not trusted
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


def test_auto_picks_by_the_criterion_and_says_why():
    choice = cs.auto_pick(PAIR, "dev")
    assert choice.picked.config.strategy == "dann" and choice.picked.config.extra == ()
    assert "lowest DEV" in choice.why and "reads no target label" in choice.why
    only_source_wins = [PAIR[0], PAIR[2]]
    assert "keeping source-only" in cs.auto_pick(only_source_wins, "dev").why
    with pytest.raises(ValueError, match="source-only run"):
        cs.auto_pick(PAIR[1:], "dev")


def test_auto_trains_every_candidate_on_the_users_pair():
    cfgs = cs.auto_configs(RunConfig(dataset="digits", target="digits:rotate=2", epochs=3))
    assert {(c.dataset, c.target, c.epochs) for c in cfgs} == {("digits", "digits:rotate=2", 3)}
    assert len(cfgs) == len(cs.CANDIDATES)
    with pytest.raises(ValueError, match="needs a target"):
        cs.auto_configs(RunConfig(dataset="digits"))


@pytest.mark.slow
def test_cli_auto_trains_the_candidates_and_reports_its_pick(tmp_path, capsys, one_thread):
    import json

    from tlcore.cli import main

    rc = main(["run", "--strategy", "auto", "--backbone", "lab_mnist", "--dataset", "digits",
               "--target", "digits:rotate=3", "--labels-per-class", "5", "--val-per-class", "5",
               "--test-per-class", "10", "--epochs", "1", "--store", str(tmp_path), "--json", "--quiet"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert len(out["candidates"]) == len(cs.CANDIDATES) and all(c["status"] == "done" for c in out["candidates"])
    crit = out["criterion"]
    values = [c["criteria"][crit] for c in out["candidates"]]
    picked = next(c for c in out["candidates"] if c["run_id"] == out["picked"]["run_id"])
    assert cs.oriented(crit, picked["criteria"][crit]) == max(cs.oriented(crit, v) for v in values)
    assert out["why"]


def test_near_best_counts_pairs_within_two_points():
    study = {"pairs": [{"runs": [{"label": "AdaBN", "target_accuracy": 0.59}, {"label": "DANN", "target_accuracy": 0.6}]},
                       {"runs": [{"label": "AdaBN", "target_accuracy": 0.5}, {"label": "DANN", "target_accuracy": 0.6}]}]}
    assert cs.near_best(study, "AdaBN") == 1 and cs.near_best(study, "DANN") == 2 and cs.near_best(study, "MCC") == 0


def test_cli_auto_trains_the_studys_epochs_unless_told(tmp_path, capsys, monkeypatch):
    """Without --epochs each candidate gets the criteria study's epochs (the protocol its
    criterion was chosen on), said on stderr with an estimate; --epochs wins."""
    from tlcore import cli_runs
    from tlcore.cli import main

    seen = []

    class Stop(Exception):
        pass

    def grid(store, cfgs, args, describe):
        seen.append(cfgs)
        raise Stop

    monkeypatch.setattr(cli_runs, "run_grid", grid)
    args = ["run", "--strategy", "auto", "--backbone", "lab_mnist", "--dataset", "digits", "--target",
            "digits:rotate=3", "--labels-per-class", "5", "--store", str(tmp_path), "--quiet"]
    with pytest.raises(Stop):
        main(args)
    err = capsys.readouterr().err
    assert {c.epochs for c in seen[0]} == {cs.BASE.epochs} and len(seen[0]) == len(cs.CANDIDATES)
    assert f"each candidate trains {cs.BASE.epochs} epochs" in err
    assert re.search(r"auto: 8 of 8 candidates to train, about \d+ min on this machine \(estimated\)", err)
    with pytest.raises(Stop):
        main([*args, "--epochs", "2"])
    assert {c.epochs for c in seen[1]} == {2} and "each candidate trains" not in capsys.readouterr().err


def _pair(name: str, regret: dict[str, float]) -> cs.PairResult:
    from tlcore.transfer.criteria import CRITERIA

    names = CRITERIA.names()
    return cs.PairResult("mnist", name, [], {c: 0.1 if c == "snd" else 0.0 for c in names},
                         {c: f"{c} pick" for c in names}, {c: False for c in names},
                         {c: regret.get(c, 0.0) for c in names}, "best")


def test_held_out_chooses_each_folds_criterion_without_its_pair():
    """DEV is unsafe in sample (-5 points on the third pair), so the rule trusts SND; left
    out, the third pair's fold sees DEV only gaining and picks it, and pays on that pair."""
    pairs = [_pair("a", {"dev": 0.3}), _pair("b", {"snd": 0.1}), _pair("c", {"dev": -0.05})]
    assert cs.best_criterion(cs.overall_of(pairs)) == "snd"
    folds = cs.held_out(pairs)
    assert [f["criterion"] for f in folds] == ["snd", "snd", "dev"]
    assert [f["vs_source"] for f in folds] == [0.0, 0.1, -0.05]
    study = {"pairs": [p.to_dict() for p in pairs]}
    assert cs.held_out_sentence(study) == (
        "Chosen without the pair it is then tested on (leave one pair out, 3 folds), the rule picks "
        "SND or DEV; on the left-out pairs those picks gained +1.7 points over source-only on average, "
        "were better on 1, equal on 1 and worse on 1 (worst -5.0).")


def test_runs_that_adapt_only_their_top_groups_are_judged_by_that_regimes_study(monkeypatch, tmp_path):
    """The criterion is the recorded study's of the runs' own regime (every group, or
    ``adapt_top``), so auto on a user's folders trusts what was measured for that regime;
    the shared settings stay out of the candidates' names."""
    import json

    monkeypatch.setattr("tlcore.transfer.adapt_study.results_dir", lambda: tmp_path)
    (tmp_path / cs.RECORD).write_text(json.dumps({"best": "dev", "pairs": [], "overall": {}}))
    top = [_rec(s, a, dev=d, snd=n, ent=e, adapt_top=2.0) for s, a, d, n, e in
           [("source_only", 0.40, 1.0, 3.0, 0.9), ("dann", 0.30, 0.5, 2.0, 0.5), ("coral", 0.45, 0.7, 1.0, 0.3)]]
    assert [cs.label(r.config) for r in top] == ["Source only", "DANN", "Deep CORAL"]
    assert cs.adapts_top(top) and not cs.adapts_top(PAIR)
    # no study of the top regime recorded: the every-group study's DEV, which picks DANN here
    assert cs.trusted(top) == cs.Trusted("dev", cs.recorded_study(), own_regime=False)
    assert cs.auto_pick(top).picked.config.strategy == "dann"
    (tmp_path / cs.RECORD_TOP).write_text(json.dumps({"best": "target_entropy", "pairs": [], "overall": {}}))
    assert cs.trusted(top).criterion == "target_entropy" and cs.trusted(top).own_regime
    assert cs.trusted(PAIR) == cs.Trusted("dev", cs.recorded_study(), own_regime=True)
    choice = cs.auto_pick(top)
    assert choice.criterion == "target_entropy" and choice.picked.config.strategy == "coral"  # lowest entropy
    assert "trained as these were (only the top groups adapting)" in choice.why
    assert "trained as these were" not in cs.auto_pick(PAIR).why


@pytest.mark.parametrize("top", [False, True])
def test_recorded_studies_are_the_readmes_tables_and_pick_safely(top):
    """Both recorded studies (every group; only the top groups adapting) are shipped, their
    tables are in the README verbatim, and the criterion each trusts never picked a run more
    than 2 points below source-only on its pairs (the rule ``best_criterion`` states)."""
    from pathlib import Path

    study = cs.recorded_study(top)
    assert study is not None and study["command"].startswith("python -m tlcore criteria")
    assert ("--set adapt_top=" in study["command"]) == top
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert cs.markdown_table(study["overall"]) in readme
    assert study["best"] == cs.best_criterion(study["overall"])
    assert study["overall"][study["best"]]["worst_vs_source"] >= -0.02
    # today's picking rule (a criterion never picks a method trained on it) on the recorded
    # runs gives the recorded summary: the table did not go stale when the rule came
    again = cs.overall_of([cs.summarise_runs(p["source"], p["target"], p["runs"]) for p in study["pairs"]])
    for c, o in study["overall"].items():
        for k in ("mean_tau", "hit_rate", "worst_vs_source", "mean_vs_source"):
            assert again[c][k] == pytest.approx(o[k], abs=1e-12), (c, k)


def test_a_criterion_does_not_pick_a_method_trained_on_it():
    """MCC makes target predictions confident, so target entropy, lowest on MCC here, picks
    the next run and the judgement leaves MCC out, saying so."""
    runs = [_rec("source_only", 0.55, dev=1.0, snd=3.0, ent=0.45), _rec("mcc", 0.30, dev=0.9, snd=3.0, ent=0.10),
            _rec("adabn", 0.67, dev=0.8, snd=3.0, ent=0.30), _rec("coral", 0.35, dev=2.0, snd=3.0, ent=0.50)]
    assert not cs.can_pick("target_entropy", "mcc") and cs.can_pick("dev", "mcc")
    choice = cs.auto_pick(runs, "target_entropy")
    assert choice.picked.config.strategy == "adabn" and "Not ranked by it: MCC" in choice.why
    j = cs.judge(runs, "target_entropy")
    assert j.unjudged == ("mcc",) and j.picked == "adabn" and j.worse == ["coral"]
    r = cs.summarise_pair(runs)
    assert r.picked["target_entropy"] == "AdaBN" and r.picked["dev"] == "AdaBN"
    from tlcore.transfer.scores import kendall_tau

    # tau still ranks every run, MCC included (lower entropy = predicted better)
    assert r.tau["target_entropy"] == pytest.approx(kendall_tau([-0.45, -0.10, -0.30, -0.50], [0.55, 0.30, 0.67, 0.35]))
