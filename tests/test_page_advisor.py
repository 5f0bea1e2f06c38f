"""The Strategy advisor page end to end in AppTest on a small task: score the lab
backbones, show the grid, the ranked table and the advice (equal to the engine's), then
run the one-click check through the app's worker and draw predicted vs actual rankings
with Kendall's tau and the pairs the prediction got wrong."""

from __future__ import annotations

import json

import pytest

from tests.page_helpers import TASK, open_page, wait_done
from tlcore.transfer.advisor import advise
from tlcore.transfer.check import candidate_configs, check


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
    table = at.dataframe[0].value
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

    at.button(key="adv_check").click().run()
    assert not at.exception, [e.value for e in at.exception]
    n = len(candidate_configs(TASK, advice, [0]))
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
