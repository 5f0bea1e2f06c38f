"""The transplant strategy (Yosinski et al. 2014) against oracles, and the two experiment
grids (label budget, Yosinski) with their summaries checked on hand-made records."""

from __future__ import annotations

import json

import pytest
import torch

from tests.engine_helpers import TINY
from tlcore import experiments as ex
from tlcore.cli import main
from tlcore.config import RunConfig
from tlcore.freeze import snapshot
from tlcore.jobs import execute
from tlcore.models import build_backbone
from tlcore.runs import RunRecord, Store
from tlcore.strategies import STRATEGIES
from tlcore.train import run

TRANSPLANT = STRATEGIES.get("transplant")
BODY = ["stem", "block1", "block2", "block3"]


def _tp(cut: int, frozen: int = 1, **kw) -> RunConfig:
    return TINY.replace(strategy="transplant", extra=(("cut", float(cut)), ("frozen_copy", float(frozen))), **kw)


def _group(key: str) -> str:
    return "head" if key.startswith("head.") else key.split(".")[1]


def _prepared(cfg: RunConfig, check_rng: bool = False):
    net = build_backbone(cfg.backbone).net
    net.reset_head(10, seed=cfg.seed)
    rng = torch.get_rng_state()
    TRANSPLANT.prepare_net(net, cfg)
    if check_rng:
        assert torch.equal(torch.get_rng_state(), rng), "prepare_net must not consume the caller's RNG"
    return net


# -- the transplant strategy ------------------------------------------------------------
@pytest.mark.parametrize("cut", range(5))
def test_prepare_keeps_copied_groups_and_reinits_the_rest(cut):
    pretrained = snapshot(build_backbone(TINY.backbone).net)
    cfg = _tp(cut)
    net = _prepared(cfg, check_rng=True)
    again = _prepared(cfg).state_dict()
    other_seed = _prepared(cfg.replace(seed=1)).state_dict()
    for key, v in net.state_dict().items():
        g = _group(key)
        if g == "head" or not v.dtype.is_floating_point:
            continue
        if BODY.index(g) < cut:
            assert torch.equal(v, pretrained[key]), f"copied {key} changed"
        else:
            assert not torch.equal(v, pretrained[key]), f"{key} above the cut kept its pretrained value"
            assert torch.equal(v, again[key]), f"{key}: same seed, different init"
            if key.endswith("conv1.weight") or key.endswith("0.weight"):
                assert not torch.equal(v, other_seed[key]), f"{key}: init ignores the run's seed"


def test_reinit_resets_batchnorm_running_stats():
    net = _prepared(_tp(2))
    bn = net.stages["block2"].bn1
    assert torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
    assert torch.equal(bn.running_var, torch.ones_like(bn.running_var))


def test_phase_freezes_exactly_the_copy():
    groups = [*BODY, "head"]
    assert TRANSPLANT.phase(groups, _tp(2, 1), 0).trainable == {"block2", "block3", "head"}
    assert TRANSPLANT.phase(groups, _tp(2, 0), 0).trainable == set(groups)
    assert TRANSPLANT.phase(groups, _tp(4, 1), 0).trainable == {"head"}
    assert TRANSPLANT.phase(groups, _tp(0, 1), 0).trainable == set(groups)
    assert TRANSPLANT.phase(groups, _tp(2), 0).discriminative is False  # one LR, as in the paper


@pytest.mark.parametrize("extra,match", [
    ((("cut", 5.0),), r"cut .*from 0 to 4 \(this backbone has 4 body groups\); got 5"),
    ((("cut", -1.0),), "whole number from 0 to 4"),
    ((("cut", 1.5),), "whole number"),
    ((("cut", 1.0), ("frozen_copy", 0.5)), r"frozen_copy .* must be 0 or 1; got 0.5"),
])
def test_bad_knobs_are_explained(extra, match):
    cfg = TINY.replace(strategy="transplant", extra=extra)
    with pytest.raises(ValueError, match=match):
        TRANSPLANT.phase([*BODY, "head"], cfg, 0)
    with pytest.raises(ValueError, match=match):
        _prepared(cfg)


@pytest.fixture(scope="module")
def frozen_run():
    return run(_tp(2, 1, epochs=2, bn_policy="frozen"))


def test_frozen_copy_keeps_weights_and_bn_stats(frozen_run):
    """The oracle for a frozen copy: every copied group (weights and BN statistics) is the
    same before and after training; the groups above the cut moved."""
    r = frozen_run
    assert r.status == "done", r.message
    assert [h["fast_path_cut"] for h in r.history] == [2, 2]  # the copy is a cached fixed function
    pretrained = build_backbone(TINY.backbone).net.state_dict()
    start = _prepared(r.config).state_dict()
    for key, v in r.model.state_dict().items():
        g = _group(key)
        if g in ("stem", "block1"):
            assert torch.equal(v, pretrained[key]), f"frozen copied {key} changed (weights or BN stats)"
        elif g in ("block2", "block3") and v.dtype.is_floating_point:
            assert not torch.equal(v, start[key]), f"{key} above the cut did not train"


@pytest.mark.slow
def test_frozen_copy_fast_path_matches_slow_path(frozen_run):
    """The cached copied prefix gives the plain loop's numbers: prepare_net left it alone."""
    slow = run(frozen_run.config, fast_path=False)
    assert all(h["fast_path_cut"] == 0 for h in slow.history)
    for a, b in zip(frozen_run.history, slow.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4, abs=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4, abs=1e-5)
    for (k, va), vb in zip(frozen_run.model.state_dict().items(), slow.model.state_dict().values(), strict=True):
        if va.dtype.is_floating_point:
            assert torch.allclose(va, vb, atol=1e-4), k


def test_finetuned_copy_moves():
    r = run(_tp(2, 0, epochs=1))
    assert r.status == "done", r.message
    pretrained = build_backbone(TINY.backbone).net.state_dict()
    after = r.model.state_dict()
    for key in ("stages.stem.0.weight", "stages.block1.conv1.weight", "stages.stem.1.running_mean"):
        assert not torch.equal(after[key], pretrained[key]), f"fine-tuned copy {key} did not move"


# -- grids --------------------------------------------------------------------------------
def test_budget_grid():
    cfgs = ex.budget_configs(TINY, ks=(5, 1), strategies=("scratch", "finetune_all"), seeds=(0, 1))
    assert len(cfgs) == 8 and len({c.run_id() for c in cfgs}) == 8
    assert {(c.strategy, c.labels_per_class, c.seed) for c in cfgs} == {
        (s, k, seed) for s in ("scratch", "finetune_all") for k in (1, 5) for seed in (0, 1)}
    assert all(c.replace(strategy="x", labels_per_class=1, seed=0) == TINY.replace(strategy="x", labels_per_class=1)
               for c in cfgs)


def test_budget_that_does_not_fit_is_explained():
    cap = ex.max_labels_per_class(TINY)  # digits: smallest class minus val and test images
    assert 100 < cap < 200
    assert ex.fit_ks(TINY, (cap + 1, 1, cap)) == ([1, cap], [cap + 1], cap)
    with pytest.raises(ValueError, match=f"at most {cap} labels per class.*drop k = {cap + 1}"):
        ex.budget_configs(TINY, ks=(1, cap + 1))
    with pytest.raises(ValueError, match="at least 1"):
        ex.fit_ks(TINY, (0, 5))


def test_yosinski_grid():
    cfgs = ex.yosinski_configs()
    assert len({c.run_id() for c in cfgs}) == len(cfgs) == 1 + 4 * 4  # one shared n=0 + 4 arms x n=1..4
    cells = {ex.arm_of(c) for c in cfgs}
    assert cells == {("base", 0)} | {(a, n) for a in ex.ARMS for n in range(1, 5)}
    for c in cfgs:
        assert c.dataset == "fashion_mnist_b"
        arm, n = ex.arm_of(c)
        if arm != "base":
            assert c.strategy == "transplant" and c.backbone == ex.ARMS[arm][0]
            assert dict(c.extra).get("frozen_copy", -1) == ex.ARMS[arm][1]
    two = ex.yosinski_configs(cuts=(0, 2), seeds=(0, 1), epochs=2, labels_per_class=7)
    assert len(two) == 2 * (1 + 4) and len({c.run_id() for c in two}) == 10
    assert all(c.epochs == 2 and c.labels_per_class == 7 for c in two)
    with pytest.raises(ValueError, match="0..4"):
        ex.yosinski_configs(cuts=(5,))


def test_depth_fraction_and_paper_numbers():
    assert ex.depth_fraction(7, 7) == ex.depth_fraction(4, 4) == 1.0
    assert ex.depth_fraction(2, 4) == 0.5 and ex.depth_fraction(0, 4) == 0.0
    with pytest.raises(ValueError):
        ex.depth_fraction(5, 4)
    p = ex.YOSINSKI_PAPER
    assert {q["arm"]: q["top1"] for q in p["points"]} == {"base": 0.625, "AnB": 0.543, "AnB+": 0.645}
    assert "ImageNet" in p["setting"] and "NeurIPS 2014" in p["citation"]
    assert "depth 1.00" in ex.paper_text()


# -- summaries on hand-made records --------------------------------------------------------
def _rec(cfg: RunConfig, acc: float | None, status: str = "done") -> RunRecord:
    metrics = {} if acc is None else {"test_accuracy": acc}
    return RunRecord(cfg.run_id(), cfg, status, 0.0, 0.0, 1.0, "", metrics, {}, 1.0, None, [])


def test_budget_summary_means_and_bands():
    accs = {("scratch", 1): (0.2, 0.4, 0.3), ("scratch", 5): (0.5, 0.7, 0.6),
            ("finetune_all", 1): (0.6, 0.6, 0.9), ("finetune_all", 5): (0.8, 0.9, 1.0)}
    recs = [_rec(TINY.replace(strategy=s, labels_per_class=k, seed=seed), a)
            for (s, k), vals in accs.items() for seed, a in enumerate(vals)]
    recs.append(_rec(TINY.replace(strategy="scratch", labels_per_class=1, seed=7), None, "failed"))
    s = ex.budget_summary(recs)
    assert list(s) == ["scratch", "finetune_all"]  # the classic order
    assert s["scratch"]["k"] == [1, 5]
    assert s["scratch"]["mean"] == pytest.approx([0.3, 0.6])
    assert s["scratch"]["lo"] == pytest.approx([0.2, 0.5]) and s["scratch"]["hi"] == pytest.approx([0.4, 0.7])
    assert s["scratch"]["sd"] == pytest.approx([0.1, 0.1])
    assert s["scratch"]["n_seeds"] == [3, 3]  # the failed run is not counted
    assert s["finetune_all"]["mean"] == pytest.approx([0.7, 0.9])
    with pytest.raises(ValueError, match="different settings"):
        ex.budget_summary([*recs, _rec(TINY.replace(strategy="scratch", labels_per_class=1, epochs=9), 0.5)])


def _summary(**means):
    return {name: {"k": [1, 5, 10, 25], "mean": m} for name, m in means.items()}


@pytest.mark.parametrize("a,b,expected", [
    ([0.5, 0.6, 0.7, 0.8], [0.4, 0.65, 0.6, 0.9], 25),  # ahead at 5, behind at 10: only 25 lasts
    ([0.5, 0.6, 0.7, 0.8], [0.4, 0.5, 0.75, 0.85], 10),  # one crossing
    ([0.5, 0.6, 0.7, 0.8], [0.6, 0.7, 0.8, 0.9], 1),  # ahead everywhere
    ([0.5, 0.6, 0.7, 0.8], [0.6, 0.7, 0.8, 0.8], None),  # a tie at the largest k is not "above"
    ([0.5, 0.6, 0.7, 0.8], [0.4, 0.5, 0.6, 0.7], None),
])
def test_crossover(a, b, expected):
    assert ex.crossover(_summary(a=a, b=b), "a", "b") == expected


def test_crossover_uses_common_ks_only():
    s = {"a": {"k": [1, 5, 10], "mean": [0.5, 0.6, 0.9]}, "b": {"k": [1, 5], "mean": [0.4, 0.7]}}
    assert ex.crossover(s, "a", "b") == 5


@pytest.mark.parametrize("tuned,headline,marker,words", [
    ([0.4, 0.5, 0.75, 0.85], "Crossover", (10, "fine-tuning ahead from k=10"), "from k = 10 labelled"),
    ([0.6, 0.7, 0.8, 0.9], "No crossover here", None, "at every budget run"),  # ahead everywhere
    ([0.6, 0.7, 0.8, 0.8], "No crossover here", None, "not ahead of feature extraction at the largest"),
])
def test_budget_verdict(tuned, headline, marker, words):
    """guards: the Experiments page's sentence and chart line come from here."""
    s = {"feature_extraction": {"k": [1, 5, 10, 25], "mean": [0.5, 0.6, 0.7, 0.8]},
         "finetune_all": {"k": [1, 5, 10, 25], "mean": tuned}}
    v = ex.budget_verdict(s)
    assert (v.headline, v.marker) == (headline, marker) and words in v.text


def test_budget_verdict_needs_both_strategies():
    assert ex.budget_verdict({"finetune_all": {"k": [1], "mean": [0.9]}}) is None
    assert ex.budget_verdict({}) is None


def test_yosinski_summary_means_and_verdict():
    grid = ex.yosinski_configs(cuts=(0, 2, 4), seeds=(0, 1), epochs=1, labels_per_class=5)
    acc = {("base", 0): (0.6, 0.8), ("AnB", 2): (0.7, 0.7), ("AnB", 4): (0.4, 0.5),
           ("AnB+", 2): (0.8, 0.8), ("AnB+", 4): (0.75, 0.75), ("BnB", 2): (0.7, 0.7),
           ("BnB", 4): (0.8, 0.8), ("BnB+", 2): (0.7, 0.7), ("BnB+", 4): (0.8, 0.8)}
    recs = [_rec(c, acc[ex.arm_of(c)][c.seed]) for c in grid]
    recs.append(_rec(TINY, 0.99))  # not a Yosinski run: ignored
    s = ex.yosinski_summary(recs)
    assert s["total"] == 4
    assert s["base"]["mean"] == pytest.approx(0.7) and s["base"]["lo"] == 0.6 and s["base"]["hi"] == 0.8
    anb = s["arms"]["AnB"]
    assert anb["n"] == [0, 2, 4] and anb["depth"] == [0.0, 0.5, 1.0]
    assert anb["mean"] == pytest.approx([0.7, 0.7, 0.45]) and anb["n_seeds"] == [2, 2, 2]
    assert s["arms"]["AnB+"]["mean"] == pytest.approx([0.7, 0.8, 0.75])
    v = ex.yosinski_verdict(s)
    assert "AnB holds base up to n=2, then falls 25.0 points below base by n=4" in v
    assert "only at the deepest cut" in v and "AnB+ stays at or above base" in v
    s["arms"]["AnB"]["mean"][1] = 0.6  # below base from n=2 on: the paper's gradual fall
    assert "AnB falls 25.0 points below base by n=4 (0.450 vs 0.700): falling with depth" in ex.yosinski_verdict(s)
    s["arms"]["AnB+"]["mean"][2] = 0.65
    assert "AnB+ falls below base at n=4 (0.650)" in ex.yosinski_verdict(s)


# -- real runs through a store -------------------------------------------------------------
def _through_store(store: Store, cfg: RunConfig) -> RunRecord:
    rid, _ = store.submit(cfg)
    execute(store, rid)
    return store.get(rid)


@pytest.mark.slow
def test_one_yosinski_point_and_one_budget_point_end_to_end(tmp_path):
    store = Store(tmp_path)
    cfg = next(c for c in ex.yosinski_configs(cuts=(3,), epochs=1, labels_per_class=5)
               if ex.arm_of(c) == ("AnB", 3))
    rec = _through_store(store, cfg)
    assert rec.status == "done", rec.message
    assert rec.history[0]["fast_path_cut"] == 3 and rec.history[0]["trainable"] == "block3, head"
    s = ex.yosinski_summary([rec])
    assert s["arms"]["AnB"]["n"] == [3] and s["arms"]["AnB"]["mean"] == [rec.metrics["test_accuracy"]]

    (bcfg,) = ex.budget_configs(TINY.replace(epochs=1), ks=(2,), strategies=("feature_extraction",), seeds=(0,))
    brec = _through_store(store, bcfg)
    assert brec.status == "done" and len(brec.history) == 1
    assert ex.budget_summary([brec])["feature_extraction"]["mean"] == [brec.metrics["test_accuracy"]]


@pytest.mark.slow
def test_cli_budget_and_yosinski(tmp_path, capsys):
    store = str(tmp_path)
    budget = ["budget", "--dataset", "digits", "--backbone", "lab_mnist", "--ks", "2,3,1000",
              "--strategies", "feature_extraction", "--seeds", "0", "--epochs", "1", "--store", store]
    assert main([*budget, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ks"] == [2, 3] and out["skipped_ks"] == [1000] and len(out["run_ids"]) == 2
    assert out["summary"]["feature_extraction"]["k"] == [2, 3]
    assert main(budget) == 0  # stored runs reused; the table
    text = capsys.readouterr().out
    assert "k/class" in text and "feature_extraction" in text

    yos = ["yosinski", "--cuts", "4", "--seeds", "0", "--epochs", "1", "--labels-per-class", "2",
           "--store", store, "--quiet"]
    assert main([*yos, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["summary"]["arms"]) == set(ex.ARMS) and out["paper"] == ex.YOSINSKI_PAPER
    assert all(c["n"] == [4] for c in out["summary"]["arms"].values())
    assert main(yos) == 0
    text = capsys.readouterr().out
    assert "AnB+" in text and "paper (Yosinski" in text and "0.543" in text
    assert main(["yosinski", "--cuts", "9", "--store", store]) == 2
