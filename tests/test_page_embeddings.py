"""The Embeddings page in AppTest on the Compare tests' store of real tiny runs.

It must draw a PCA and a UMAP map with a pretrained and an after-run panel; a
feature-extraction run's after panel must sit exactly on the pretrained one (one map,
same features, same coordinates); a fine-tuned run's must not; without a run only the
pretrained panel is drawn; colouring by class draws a trace per class.
"""

from __future__ import annotations

import json

import pytest

from tests.page_helpers import BASE, app_for, runs_store


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    return runs_store(tmp_path_factory)


def open_embeddings(at, run: str | None = None):
    at.run()
    at.switch_page("app_pages/embeddings.py").run()
    if run is not None:
        at.selectbox(key="emb_run").set_value(run).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def figures(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def panel_xy(fig: dict, stage: str) -> list[float]:
    """All (x, y) of one panel, in trace order (customdata[3] is the panel's stage)."""
    pts = []
    for t in fig["data"]:
        if t["customdata"][0][3] == stage:
            pts += list(zip(t["x"], t["y"], [c[1] for c in t["customdata"]], strict=True))
    return sorted(pts, key=lambda p: p[2])


@pytest.mark.slow
def test_feature_extraction_run_does_not_move(store_root, monkeypatch):
    rid = BASE.replace(strategy="feature_extraction", seed=0).run_id()
    at = open_embeddings(app_for(store_root, monkeypatch), rid)
    figs = figures(at)
    assert len(figs) == 2  # PCA, then UMAP
    assert any("identical by design" in i.value for i in at.info)
    for fig in figs:
        stages = {t["customdata"][0][3] for t in fig["data"]}
        assert stages == {"pretrained", "after Feature extraction"}
        assert "xaxis2" in fig["layout"]
        before, after = panel_xy(fig, "pretrained"), panel_xy(fig, "after Feature extraction")
        assert len(before) == 400 and before == after


@pytest.mark.slow
def test_finetuned_run_moves_and_choices_change_the_drawing(store_root, monkeypatch):
    rid = BASE.replace(strategy="finetune_all", seed=1).run_id()
    at = open_embeddings(app_for(store_root, monkeypatch), rid)
    pca, umap = figures(at)
    assert panel_xy(pca, "pretrained") != panel_xy(pca, "after Fine-tune all")
    assert {t["customdata"][0][0] for t in pca["data"]} == {"source", "target"}
    n_domain = len(pca["data"])

    at.radio(key="emb_color").set_value("class").run()
    assert not at.exception
    assert len(figures(at)[0]["data"]) == 10 * n_domain  # ten classes per domain and panel

    at.selectbox(key="emb_run").set_value("setup").run()
    assert not at.exception
    for fig in figures(at):
        assert {t["customdata"][0][3] for t in fig["data"]} == {"pretrained"}
        assert "xaxis2" not in fig["layout"]
