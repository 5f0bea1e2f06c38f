"""The Strategy advisor page end to end in AppTest on a small task: score the lab
backbones, show the grid, the ranked table and the advice (equal to the engine's), the
learned prediction beside the rule and the track record of both (equal to the engine's and
the shipped record), then run the one-click check through the app's worker, draw predicted
vs actual rankings with Kendall's tau and the pairs the prediction got wrong, add the
check to the store's meta-dataset and refit on it."""

from __future__ import annotations

import json

import pytest

from tests.page_helpers import TASK, open_page, wait_done
from tlcore.transfer.advisor import advise
from tlcore.transfer.check import candidate_configs, check
from tlcore.transfer.learned_advice import extra_configs, learned_advice, shipped_table
from tlcore.transfer.meta import STRATEGIES, load_table, user_table


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


@pytest.mark.slow
def test_advice_then_check(tmp_path, monkeypatch):
    at = open_page(tmp_path, monkeypatch, "app_pages/advisor.py", TASK)
    assert not at.get("plotly_chart")  # nothing computed before the button
    backbones = at.multiselect(key="adv_backbones").value
    assert {"lab_mnist", "lab_fashion"} <= set(backbones)
    at.button(key="adv_go").click().run()
    assert not at.exception, [e.value for e in at.exception]

    advice = advise(TASK, backbones)
    assert at.success[0].value == advice.reason
    table = next(d.value for d in at.dataframe if "backbone" in d.value.columns)
    assert list(table["backbone"]) == [b.backbone for b in advice.backbone_scores]
    assert [float(v) for v in table["LogME"]] == pytest.approx([b.scores["logme"] for b in advice.backbone_scores],
                                                               abs=1e-3)  # shown to 3 decimals
    assert at.query_params["adv"] == "1"  # the link now reopens the result
    again = open_page(tmp_path, monkeypatch, "app_pages/advisor.py", TASK)
    again.query_params["adv"] = "1"
    again.switch_page("app_pages/advisor.py").run()
    assert again.success and again.success[0].value == advice.reason
    grid = charts(at)[0]
    star = next(t for t in grid["data"] if t.get("mode") == "markers+text")
    assert star["x"] == [advice.size.min_per_class]

    # the learned advisor beside the rule, and the track record of both
    la = learned_advice(TASK, advice.backbone, tmp_path)
    text = " ".join(m.value for m in at.markdown)
    assert la.rule == advice.predicted_strategies  # the rule read from the same signals: the same cell
    assert "**Classic rule**" in text and f"**Learned** from {la.rows} tasks of {len(la.families)} datasets" in text
    for i, p in enumerate(la.predictions, 1):
        assert f"{i}. {p.strategy}: {p.accuracy:.1%} ({p.low:.0%} to {p.high:.0%})" in text
    if la.strategy == la.rule[0]:
        assert f"Both pick **{la.strategy}**" in text
    else:
        assert f"They disagree: the rule picks **{la.rule[0]}**, the learned advisor **{la.strategy}**" in text
    chart = next(f for f in charts(at) if f["layout"].get("title", {}).get("text", "").startswith("predicted test"))
    assert chart["data"][0]["y"] == [p.strategy for p in la.predictions]
    assert chart["data"][0]["x"] == pytest.approx([p.accuracy for p in la.predictions])
    record = shipped_table()["lodo"]
    track = next(d.value for d in at.dataframe if "tau learned" in d.value.columns)
    assert list(track["held-out dataset"]) == [f["dataset"] for f in record["folds"]]
    assert list(track["tau rule"]) == pytest.approx([f["tau"]["rule"] for f in record["folds"]])
    assert "adv_refit_btn" not in [b.key for b in at.button]  # nothing of the user's to refit on yet

    at.button(key="adv_check").click().run()
    assert not at.exception, [e.value for e in at.exception]
    n = len(candidate_configs(TASK, advice, [0]) + extra_configs(TASK, advice.backbone, [0],
                                                                  advice.predicted_strategies))
    recs = wait_done(tmp_path, n)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    result = check(advice, recs)
    titles = [f["layout"]["title"]["text"] for f in charts(at) if f["layout"].get("title")]
    for rc in (result.strategies, result.backbones):
        assert any(t.startswith(f"{rc.axis}: predicted vs actual rank (Kendall's tau {rc.tau:+.2f})") for t in titles)
        text = " ".join(m.value for m in at.markdown)
        if rc.disagreements:
            assert rc.disagreements[0].text() in text
        else:
            assert f"The {rc.axis} prediction was right" in text

    # the check joined the store's meta-dataset: one task, every strategy, the runs' accuracies
    [row] = load_table(user_table(tmp_path))["rows"]
    assert row["backbone"] == advice.backbone and row["dataset"] == TASK.dataset and row["source"] == "check"
    real = {r.config.strategy: r.metrics["test_accuracy"] for r in recs if r.config.backbone == advice.backbone}
    assert row["accuracy"] == pytest.approx({s: real[s] for s in STRATEGIES})
    at.button(key="adv_refit_btn").click().run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert f"**Learned** from {la.rows + 1} tasks of {len(la.families)} datasets, 1 of them from your checks" in text
    assert any("refitted with your checks" in c.value for c in at.caption)
    assert "adv_refit_btn" not in [b.key for b in at.button]  # fitted on every row there is
