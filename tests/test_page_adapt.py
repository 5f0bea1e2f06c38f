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
from tests.test_pairs import NINE, _zip
from tlcore.config import RunConfig
from tlcore.strategies import title as title_of
from tlcore.transfer import adapt_study as da
from tlcore.transfer import criteria_study as cs


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    from tlcore.jobs import execute
    from tlcore.runs import Store

    root = tmp_path_factory.mktemp("adapt_runs")
    store = Store(root)
    for cfg in [*da.study_configs(PAIR), *cs.auto_configs(PAIR)]:  # auto adds two DANN strengths
        rid, _ = store.submit(cfg)
        if store.get(rid).status != "done":
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


@pytest.mark.slow
def test_auto_says_what_it_picked_from_the_stored_candidates(store_root, monkeypatch):
    from tlcore.runs import Store

    at = open_adapt(store_root, monkeypatch, PAIR)
    store = Store(store_root)
    choice = cs.auto_pick([store.get(c.run_id()) for c in cs.auto_configs(PAIR)])
    (picked,) = [s.value for s in at.success if "auto picked" in s.value]
    assert picked.startswith(f"**auto picked {cs.label(choice.picked.config)}.**") and choice.why in picked
    assert any(f"{choice.picked.metrics['target_accuracy']:.1%} on the target" in c.value for c in at.caption)
    assert at.button(key="da_auto_run").label == f"Let auto pick ({len(cs.CANDIDATES)} runs)"


def _uploads(root, monkeypatch, *zips) -> list[str]:
    """``zips`` kept as this data folder's uploads (a link may name only those)."""
    from pathlib import Path

    from tlcore.preview import ingest_upload

    monkeypatch.setenv("TLAB_DATA_DIR", str(root))
    return [ingest_upload(Path(z).read_bytes(), Path(z).name)[0] for z in zips]


def test_a_pair_without_shared_classes_is_refused_before_queueing(tmp_path, monkeypatch):
    src, tgt = _uploads(tmp_path / "store", monkeypatch, _zip(tmp_path / "s.zip", NINE, n=12),
                        _zip(tmp_path / "t.zip", [*NINE[:8], "wolf"], n=12))
    at = open_adapt(tmp_path / "store", monkeypatch, PAIR.replace(dataset=src, target=tgt))
    (err,) = [e.value for e in at.error]
    assert "only the target has 'wolf'" in err
    assert at.button(key="da_run").disabled and at.button(key="da_auto_run").disabled


def test_own_folders_train_on_every_labelled_source_image(tmp_path, monkeypatch):
    src, tgt = _uploads(tmp_path / "store", monkeypatch, _zip(tmp_path / "s.zip", NINE, n=30, grey=True),
                        _zip(tmp_path / "t.zip", NINE, n=30, seed=1))
    at = open_adapt(tmp_path / "store", monkeypatch, PAIR.replace(dataset=src, target=tgt))
    assert at.toggle(key="da_all_labels").value
    said = " ".join(c.value for c in at.caption)
    assert "all 0 " not in said and f"all {9 * (30 - 5 - 20)} labelled source images train" in said
    assert "Backbone `lab_mnist`, all labels per class" in said
    assert any("s.zip (upload) is grey" in i.value for i in at.info)  # the mode note, not an error
    assert not at.button(key="da_run").disabled
    at.toggle(key="da_all_labels").set_value(False).run()
    assert "Backbone `lab_mnist`, 5 labels per class" in " ".join(c.value for c in at.caption)
    assert "The top 2 of 4 groups (block2, block3) adapt" in said
    at.toggle(key="da_top_only").set_value(False).run()
    said = " ".join(c.value for c in at.caption)
    assert "Every group trains" in said and "The top 2" not in said
