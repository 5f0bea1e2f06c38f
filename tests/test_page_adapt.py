"""The Domain adaptation page in AppTest on a store of a real tiny study.

Four methods on a small shifted digits pair, one seed: the page must find the stored
runs for the setting in the URL, show the summary (numbers equal to the runs'), the
target-accuracy, discriminator and A-distance curves, and embeddings whose epoch slider
moves the points (epoch 0 is the same pretrained features for every run). Without a
target it explains what to do, and its button sets up the MNIST -> MNIST-M study.
"""

from __future__ import annotations

import json

import pytest

from tests.page_helpers import PAIR, open_page
from tlcore.config import RunConfig
from tlcore.strategies import title as title_of
from tlcore.transfer import adapt_study as da


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    from tlcore.jobs import execute
    from tlcore.runs import Store

    root = tmp_path_factory.mktemp("adapt_runs")
    store = Store(root)
    for cfg in da.study_configs(PAIR):
        rid, _ = store.submit(cfg)
        execute(store, rid)
        assert store.get(rid).status == "done", store.get(rid).message
    return root


def open_adapt(root, monkeypatch, cfg: RunConfig | None):
    return open_page(root, monkeypatch, "app_pages/adapt.py", cfg)


def charts(at) -> dict[str, dict]:
    out = {}
    for c in at.get("plotly_chart"):
        fig = json.loads(c.proto.spec)
        title = fig["layout"].get("title", {}).get("text") or fig["layout"].get("annotations", [{}])[0].get("text", "")
        out[title] = fig
    return out


@pytest.mark.slow
def test_stored_study_is_summarised_and_drawn(store_root, monkeypatch):
    at = open_adapt(store_root, monkeypatch, PAIR)
    from tlcore.runs import Store

    store = Store(store_root)
    recs = {c.strategy: store.get(c.run_id()) for c in da.study_configs(PAIR)}
    table = at.dataframe[0].value
    assert list(table["method"]) == ["Source only", "AdaBN", "DANN", "CDAN+E", "Deep CORAL", "MCC", "Target oracle"]
    for method, title in zip(da.METHODS, table["method"], strict=True):
        row = table[table["method"] == title].iloc[0]
        assert row["target accuracy"] == pytest.approx(recs[method].metrics["target_accuracy"])
        assert row["A-distance after (all test images)"] == pytest.approx(recs[method].metrics["a_distance_after"])
    assert any("DANN" in m.value and "source-only" in m.value for m in at.markdown)
    titles = " | ".join(charts(at))
    for want in ("target accuracy", "domain discriminator accuracy", "proxy A-distance"):  # live view + results
        assert want in titles, titles
    disc = next(f for t, f in charts(at).items() if t.startswith("domain discriminator"))
    assert [t["name"] for t in disc["data"]] == ["DANN", "CDAN+E"]  # only these have a discriminator
    # without target labels: each method's criteria as its run recorded them, and a verdict
    crit = next(d.value for d in at.dataframe if "DEV ↓" in d.value.columns)
    for method in ("source_only", "dann", "mcc"):
        row = crit[crit["method"] == title_of(method)]
        assert row["DEV ↓"].iloc[0] == pytest.approx(recs[method].metrics["criteria"]["dev"])
        assert row["SND ↑"].iloc[0] == pytest.approx(recs[method].metrics["criteria"]["snd"])
    assert any("Adaptation may have hurt" in w.value for w in at.warning) or any(
        "no method here looks worse" in s.value for s in at.success)


def _panels(fig: dict) -> dict[str, list]:
    out: dict[str, list] = {}
    for t in fig["data"]:
        for x, y, c in zip(t["x"], t["y"], t["customdata"], strict=True):
            out.setdefault(c[3], []).append((c[0], c[1], round(x, 4), round(y, 4)))
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.slow
def test_epoch_slider_moves_the_points_on_one_map(store_root, monkeypatch):
    at = open_adapt(store_root, monkeypatch, PAIR)
    at.radio(key="da_emb_method").set_value("pca").run()
    emb = lambda: next(f for t, f in charts(at).items() if "epoch" in t)  # noqa: E731
    last = emb()
    assert len(last["layout"]["annotations"]) == 2  # Source only and DANN side by side
    at.slider(key="da_emb_epoch").set_value(0).run()
    assert not at.exception
    first = emb()
    p0 = list(_panels(first).values())
    assert len(p0) == 2 and p0[0] == p0[1]  # epoch 0: both runs start from the same pretrained features
    assert _panels(first) != _panels(last)
    assert len(p0[0]) == 2 * 10 * 20  # every sampled test image of both domains (20 per class)


def test_without_a_target_the_page_explains_and_offers_the_classic_pair(tmp_path, monkeypatch):
    at = open_adapt(tmp_path, monkeypatch, RunConfig(dataset="digits"))
    assert any("needs a target" in i.value for i in at.info)
    at.button(key="da_classic").click().run()
    assert "target" not in at.query_params  # the preset first lists what it will change
    at.button(key="da_classic_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["target"] == "mnist_m"  # the link now carries the pair
    # the preset leaves the user's strategy (and seed) alone: the page's Run sets the methods
    assert at.session_state["tl_setup"] == da.DEFAULT.replace(strategy=RunConfig().strategy)
