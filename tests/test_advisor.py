"""The strategy advisor: grid rules, size and similarity calls, backbone scores, the check."""

from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

import tlcore.transfer
from tlcore.config import RunConfig
from tlcore.data import Availability
from tlcore.models import BACKBONES, available_backbones
from tlcore.runs import RunRecord
from tlcore.strategies import STRATEGIES
from tlcore.transfer.advice_types import Advice, BackboneScore, Similarity, Size
from tlcore.transfer.advisor import advise
from tlcore.transfer.check import candidate_configs, check
from tlcore.transfer.rules import RULES, SIMILAR_BELOW, SMALL_PER_CLASS, rule_for
from tlcore.transfer.scores import h_score
from tlcore.transfer.scoring import score_backbones
from tlcore.transfer.similarity import similarity, size

# -- the modules ---------------------------------------------------------------------------

# The advisor's modules, lowest first. Each may import only those before it, so no two import
# each other (issue #13: advisor.py and check.py did, through a TYPE_CHECKING import).
LAYERS = ("rules", "advice_types", "backbone_features", "scoring", "similarity", "check", "advisor")
PREFIX = "tlcore.transfer."


def _transfer_imports(path: Path) -> set[str]:
    """The ``tlcore.transfer`` modules a file imports anywhere, TYPE_CHECKING blocks included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "tlcore.transfer":
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PREFIX):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith(PREFIX)}
    return found


def test_advisor_modules_import_only_downward():
    root = Path(tlcore.transfer.__file__).parent
    for i, name in enumerate(LAYERS):
        above = _transfer_imports(root / f"{name}.py") & set(LAYERS[i:])
        assert not above, f"tlcore/transfer/{name}.py imports {sorted(above)}, at or above it"


# -- the grid ------------------------------------------------------------------------------


@pytest.mark.parametrize("size_call, sim_call, strategy", [
    ("large", "similar", "finetune_all"),
    ("large", "dissimilar", "finetune_all"),
    ("small", "similar", "finetune_top"),
    ("small", "dissimilar", "feature_extraction"),
    ("large", "unknown", "finetune_all"),  # unknown similarity: the dissimilar column
    ("small", "unknown", "feature_extraction"),
])
def test_each_cell_gives_its_strategy(size_call, sim_call, strategy):
    rule = rule_for(size_call, sim_call)
    assert rule.strategy == strategy
    assert rule.ranking[0] == strategy  # the recommendation heads the predicted ranking


def test_rules_cover_the_grid_and_rank_registered_strategies():
    assert set(RULES) == {(s, d) for s in ("small", "large") for d in ("similar", "dissimilar")}
    for (s, d), rule in RULES.items():
        assert (rule.size, rule.similarity) == (s, d)
        assert sorted(rule.ranking) == sorted(("finetune_all", "finetune_top", "feature_extraction",
                                               "scratch"))
        assert all(name in STRATEGIES for name in rule.ranking)
        assert rule.reason
    # the classic shape: with few labels, scratch is predicted last; with many, the frozen
    # features lose most under a shift
    assert RULES[("small", "similar")].ranking[-1] == RULES[("small", "dissimilar")].ranking[-1] == "scratch"
    assert RULES[("large", "dissimilar")].ranking[-1] == "feature_extraction"


# -- size ----------------------------------------------------------------------------------


@pytest.mark.parametrize("per_class, call", [(10, "small"), (SMALL_PER_CLASS - 1, "small"),
                                             (SMALL_PER_CLASS, "large")])
def test_size_threshold_per_class(per_class, call):
    s = size(RunConfig(dataset="digits", labels_per_class=per_class))
    assert s.call == call
    assert s.images == 10 * per_class and s.min_per_class == per_class
    assert set(s.per_class.values()) == {per_class} and len(s.per_class) == 10
    assert s.threshold == SMALL_PER_CLASS and str(per_class) in s.why


def test_size_threshold_can_be_moved():
    cfg = RunConfig(dataset="digits", labels_per_class=10)
    assert size(cfg, threshold=10).call == "large"
    assert size(cfg, threshold=11).call == "small"


# -- check ---------------------------------------------------------------------------------

BASE = RunConfig(backbone="lab_mnist", dataset="digits", labels_per_class=10)


def _advice(cell=("small", "similar"), backbones=("lab_mnist", "lab_fashion")) -> Advice:
    rule = RULES[cell]
    sz = Size("digits", 100, {str(c): 10 for c in range(10)}, 10, cell[0], SMALL_PER_CLASS, "")
    sim = Similarity("lab_mnist", "mnist", "digits", 0.5, 0.01, 500, 600, cell[1], SIMILAR_BELOW, "", 0.0)
    scores = [BackboneScore(b, {"logme": -float(i)}, {}, "logme", i + 1, 0.0, 0.0, {}, False, 100, 128)
              for i, b in enumerate(backbones)]
    return Advice(BASE, "lab_mnist", sz, sim, cell, rule, scores, "logme", "")


def _record(accuracy: float | None, *, status: str = "done", **changes) -> RunRecord:
    cfg = BASE.replace(**changes)
    metrics = {} if accuracy is None else {"test_accuracy": accuracy}
    return RunRecord(cfg.run_id(), cfg, status, 0.0, 0.0, 1.0, "", metrics, {}, 1.0, None)


def test_check_hand_computed_tau_and_disagreements():
    advice = _advice()  # predicted: finetune_top > feature_extraction > finetune_all > scratch
    accs = {"finetune_top": (0.84, 0.86), "feature_extraction": (0.89, 0.91),
            "finetune_all": (0.87, 0.89), "scratch": (0.58, 0.62)}
    records = [_record(a, strategy=s, seed=seed) for s, pair in accs.items() for seed, a in enumerate(pair)]
    records.append(_record(0.80, strategy="finetune_top", backbone="lab_fashion"))
    result = check(advice, records)

    st = result.strategies
    assert st.predicted == list(advice.predicted_strategies)
    assert st.actual == ["feature_extraction", "finetune_all", "finetune_top", "scratch"]
    assert st.accuracy["finetune_top"] == pytest.approx(0.85)
    assert st.runs == dict.fromkeys(accs, 2)
    # 6 pairs; finetune_top was predicted above feature_extraction and finetune_all and lost
    # both, the other 4 pairs agree: tau = (4 - 2) / 6
    assert st.tau == pytest.approx(1 / 3)
    assert [(d.above, d.below) for d in st.disagreements] == [
        ("finetune_top", "feature_extraction"), ("finetune_top", "finetune_all")]
    assert [d.points for d in st.disagreements] == pytest.approx([5.0, 3.0])
    assert st.disagreements[0].text().startswith(
        "predicted finetune_top above feature_extraction, but feature_extraction won by 5.0 points")
    assert st.missing == []

    bb = result.backbones  # lab_mnist (predicted first) 0.85 vs lab_fashion 0.80: right
    assert bb.actual == ["lab_mnist", "lab_fashion"] and bb.tau == pytest.approx(1.0)
    assert bb.disagreements == [] and bb.runs == {"lab_mnist": 2, "lab_fashion": 1}
    assert result.skipped == []
    plain = result.to_dict()["strategies"]["disagreements"][0]
    assert plain["points"] == pytest.approx(5.0) and plain["text"] == st.disagreements[0].text()


def test_check_a_reversed_prediction_lists_every_pair():
    advice = _advice(("small", "dissimilar"))
    order = advice.predicted_strategies
    records = [_record(0.5 + 0.1 * i, strategy=s) for i, s in enumerate(order)]  # exactly reversed
    st = check(advice, records).strategies
    assert st.tau == pytest.approx(-1.0)
    assert len(st.disagreements) == 6 and st.actual == list(reversed(order))


def test_check_skips_what_it_cannot_use_and_reports_missing():
    advice = _advice()
    records = [
        _record(0.9, strategy="finetune_top"),
        _record(0.8, strategy="feature_extraction"),
        _record(None, strategy="finetune_all", status="failed"),
        _record(0.7, strategy="scratch", dataset="mnist"),  # other data
        _record(0.7, strategy="scratch", backbone="lab_fashion"),  # not a candidate
    ]
    result = check(advice, records)
    assert result.strategies.predicted == ["finetune_top", "feature_extraction"]
    assert result.strategies.missing == ["finetune_all", "scratch"]
    assert result.strategies.tau == pytest.approx(1.0)
    assert result.backbones is None  # only one backbone ran the recommended strategy
    assert len(result.skipped) == 3
    assert any("other data" in s for s in result.skipped)
    assert any("not a candidate" in s for s in result.skipped)
    assert any("failed" in s for s in result.skipped)


def test_check_refuses_to_average_different_experiments():
    advice = _advice()
    records = [_record(0.9, strategy="finetune_top", epochs=15),
               _record(0.8, strategy="finetune_top", epochs=5, seed=1)]
    with pytest.raises(ValueError, match="epochs"):
        check(advice, records)


def test_check_with_a_single_run_gives_no_ranking():
    result = check(_advice(), [_record(0.9, strategy="finetune_top")])
    assert result.strategies is None


def test_candidate_configs_cover_both_axes_once_and_check_reads_them():
    advice = _advice()
    short = BASE.replace(epochs=3)
    cfgs = candidate_configs(short, advice, seeds=(0, 1))
    assert len(cfgs) == len(set(cfgs)) == 2 * (4 + 1)  # 4 strategies + 1 more backbone, 2 seeds
    assert {c.strategy for c in cfgs if c.backbone == "lab_mnist"} == set(advice.predicted_strategies)
    other = [c for c in cfgs if c.backbone == "lab_fashion"]
    assert {c.strategy for c in other} == {advice.strategy} and {c.seed for c in other} == {0, 1}
    assert all(c.epochs == 3 and c.dataset == "digits" for c in cfgs)
    records = [RunRecord(c.run_id(), c, "done", 0, 0, 1, "", {"test_accuracy": 0.5 + 0.01 * i}, {}, 1, None)
               for i, c in enumerate(cfgs)]
    result = check(advice, records)
    assert result.skipped == [] and result.strategies.missing == [] and result.backbones.missing == []


# -- real features -------------------------------------------------------------------------


def test_similarity_orders_mnist_closer_to_lab_mnist_than_fashion_or_inverted():
    pad = {}
    for task in ("mnist", "fashion_mnist", "mnist:invert=5"):
        # 300 images a side (not the default 500 / 600) to stay fast with a cold cache
        cfg = RunConfig(backbone="lab_mnist", dataset=task, labels_per_class=10, test_per_class=20)
        s = similarity(cfg, n_source=300)
        assert s.source_dataset == "mnist" and (s.n_source, s.n_target) == (300, 300)
        assert math.isfinite(s.mmd2)
        pad[task] = s.a_distance
        assert s.call == ("similar" if task == "mnist" else "dissimilar"), (task, s.a_distance)
    assert pad["mnist"] < pad["fashion_mnist"] and pad["mnist"] < pad["mnist:invert=5"]
    assert pad["mnist"] < 0.5 and min(pad["fashion_mnist"], pad["mnist:invert=5"]) > SIMILAR_BELOW


def test_similarity_is_unknown_without_offline_pretraining_data():
    imagenet = next(s.name for s in BACKBONES if "imagenet" in s.tags)
    s = similarity(RunConfig(backbone=imagenet, dataset="digits", labels_per_class=10))
    assert s.call == "unknown" and s.a_distance is None and s.source_dataset is None
    assert "not available offline" in s.why
    rand = similarity(RunConfig(backbone="lab_mnist", weights="none", dataset="digits", labels_per_class=10))
    assert rand.call == "unknown" and "random weights" in rand.why


def test_score_backbones_on_digits_ranks_the_digit_backbone_first():
    cfg = RunConfig(backbone="lab_mnist", dataset="digits", labels_per_class=10)
    ranked = score_backbones(cfg, ["lab_fashion", "lab_mnist"])
    assert [b.backbone for b in ranked] == ["lab_mnist", "lab_fashion"]  # by LogME
    assert [b.rank for b in ranked] == [1, 2]
    for b in ranked:
        assert b.n_images == 100 and b.feature_dim == 128 and b.error is None
        for name in ("logme", "leep", "nce"):
            assert math.isfinite(b.scores[name]), name
        assert b.scores["leep"] <= 0 and b.scores["nce"] <= 0
        # 100 images in 128 dimensions: H-score would be C - 1 = 9 for any features
        assert b.scores["h_score"] is None and "N <= D" in b.reasons["h_score"]
        assert b.seconds >= b.feature_seconds >= 0


def test_h_score_is_c_minus_1_for_any_features_when_n_le_d():
    """Why score_backbones reports H-score as None at N <= D: random features get the maximum."""
    rng = np.random.default_rng(0)
    y = np.arange(100) % 10
    assert h_score(rng.normal(size=(100, 128)), y) == pytest.approx(9.0)
    assert h_score(rng.normal(size=(1000, 128)), np.arange(1000) % 10) < 2.0


def test_score_backbones_reads_its_features_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TLAB_CACHE_DIR", str(tmp_path / "cache"))
    cfg = RunConfig(backbone="lab_mnist", dataset="digits", labels_per_class=10)
    first = score_backbones(cfg, ["lab_mnist"], scores=("logme",))
    second = score_backbones(cfg, ["lab_mnist"], scores=("logme",))
    assert not first[0].cached and second[0].cached
    assert second[0].scores == first[0].scores
    assert len(list((tmp_path / "cache" / "features").glob("*.pt"))) == 1


def _weights_missing(monkeypatch, name: str) -> None:
    """Make ``name``'s default weights unavailable the way a machine without the file sees
    them: their cheap ``check()`` says no, so ``build_backbone`` raises WeightsUnavailable."""
    spec = BACKBONES.get(name)
    gone = dataclasses.replace(spec.weights[spec.default_weights],
                               check=lambda: Availability(False, "test: weights file removed"))
    monkeypatch.setitem(spec.weights, spec.default_weights, gone)


def test_score_backbones_reports_a_backbone_it_cannot_build(monkeypatch):
    # Not a skip when every weights file is installed: one backbone's weights are made
    # missing, so the failure path (rank None, every score None, the reason) always runs.
    _weights_missing(monkeypatch, "lab_fashion")
    assert "lab_fashion" not in available_backbones() and "lab_mnist" in available_backbones()
    cfg = RunConfig(backbone="lab_mnist", dataset="digits", labels_per_class=10)
    ranked = score_backbones(cfg, ["lab_fashion", "lab_mnist"], scores=("logme", "leep"))
    assert [b.backbone for b in ranked] == ["lab_mnist", "lab_fashion"]  # the unbuildable one last
    good, bad = ranked
    assert good.rank == 1 and good.error is None and good.value is not None
    assert bad.rank is None and bad.error and set(bad.scores.values()) == {None}
    assert "cannot be built" in bad.reasons["logme"] and "weights file removed" in bad.error


def test_advise_passes_over_a_backbone_it_cannot_build(monkeypatch):
    # A candidate whose weights are missing is reported, not advised on and not checked.
    _weights_missing(monkeypatch, "lab_fashion")
    cfg = RunConfig(backbone="lab_fashion", dataset="digits", labels_per_class=10)
    a = advise(cfg, ["lab_fashion", "lab_mnist"])
    assert a.backbone == "lab_mnist" and a.similarity.backbone == "lab_mnist"
    assert a.predicted_backbones == ("lab_mnist",)
    assert [b.backbone for b in a.backbone_scores] == ["lab_mnist", "lab_fashion"]
    assert {c.backbone for c in candidate_configs(cfg, a)} == {"lab_mnist"}


def test_score_backbones_refuses_an_unknown_score():
    with pytest.raises(KeyError):
        score_backbones(BASE, ["lab_mnist"], scores=("logme", "no_such_score"))


def test_advise_end_to_end_on_digits():
    cfg = RunConfig(backbone="lab_fashion", dataset="digits", labels_per_class=10)
    a = advise(cfg, ["lab_fashion", "lab_mnist"])
    assert a.backbone == "lab_mnist"  # the best by LogME, not the config's
    assert a.size.call == "small" and a.similarity.backbone == "lab_mnist"
    assert a.cell == (a.size.call, a.similarity.call) == (a.rule.size, a.rule.similarity)
    assert a.strategy == RULES[a.cell].strategy
    assert a.predicted_backbones == ("lab_mnist", "lab_fashion")
    assert f"{a.similarity.a_distance:.2f}" in a.reason and "100 labelled images" in a.reason
    assert a.reason.endswith(".") and a.reason.count(". ") == 0  # one sentence
    d = a.to_dict()
    assert d["strategy"] == a.strategy and d["config"]["dataset"] == "digits"
