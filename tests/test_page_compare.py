"""The Compare page in AppTest on a store of four real tiny runs, plus its pure helpers.

Two strategies x two seeds: the page must group seeds (mean line + band), list one
table row per group, name a winner, restore a selection from a link, and drop unknown
ids from a link with a notice.
"""

from __future__ import annotations

import json

import pytest

from tests.page_helpers import BASE, STRATEGIES, app_for, open_page, runs_store


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    return runs_store(tmp_path_factory)


def ids() -> dict[tuple[str, int], str]:
    return {(s, seed): BASE.replace(strategy=s, seed=seed).run_id() for s in STRATEGIES for seed in (0, 1)}


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def open_compare(at, runs: str | None = None):
    if runs is not None:
        at.query_params["runs"] = runs
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_default_view_groups_seeds(store_root, monkeypatch):
    at = open_compare(app_for(store_root, monkeypatch))
    assert sorted(at.multiselect(key="compare_runs").value) == sorted(ids().values())
    figs = charts(at)
    assert len(figs) == 4  # curves by epoch, by time; source and target confusion
    curve = figs[0]["data"]
    assert [t.get("fill") for t in curve].count("toself") == 2  # one band per seed group
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 2  # one row per group
    assert "n" in at.dataframe[0].value.columns and set(at.dataframe[0].value["n"]) == {2}
    assert any("test accuracy" in s.value for s in at.success)
    assert "runs" in at.query_params and len(at.query_params["runs"].split(",")) == 4


@pytest.mark.slow
def test_choosing_runs_changes_the_drawing(store_root, monkeypatch):
    one = ids()[("finetune_all", 0)]
    at = open_compare(app_for(store_root, monkeypatch))
    at.multiselect(key="compare_runs").set_value([one]).run()
    assert not at.exception
    figs = charts(at)
    assert len(figs[0]["data"]) == 1  # one line, no band
    assert len(at.dataframe[0].value) == 1
    assert not at.success  # no winner among one
    assert at.query_params["runs"] == one
    at.selectbox(key="compare_metric").set_value("train_loss").run()
    assert "training loss" in json.dumps(charts(at)[0]["layout"]["title"]).lower()
    at.multiselect(key="compare_runs").set_value([]).run()
    assert not at.get("plotly_chart") and "runs" not in at.query_params


@pytest.mark.slow
def test_link_restores_selection_and_drops_unknown_ids(store_root, monkeypatch):
    a, b = ids()[("feature_extraction", 1)], ids()[("finetune_all", 1)]
    at = open_compare(app_for(store_root, monkeypatch), runs=f"{a},0123456789abcdef,{b},<script>")
    assert at.multiselect(key="compare_runs").value == [a, b]
    assert any("ignored" in w.value and "0123456789abcdef" in w.value for w in at.warning)
    assert len(at.dataframe[0].value) == 2 and set(at.dataframe[0].value["n"]) == {1}


def test_parse_run_ids():
    from tlcore.compare import parse_run_ids

    known = ["aaaa", "bbbb"]
    assert parse_run_ids("bbbb, AAAA,,bbbb,zz", known) == (["bbbb", "aaaa"], ["zz"])
    assert parse_run_ids(None, known) == ([], [])
    assert parse_run_ids(",".join(["aaaa"] * 500), known, limit=5) == (["aaaa"], [])


def test_group_winner_sentence_respects_the_spread():
    from tlcore.compare import SeedGroup, final_table, group_winner_sentence
    from tlcore.runs import RunRecord

    def rec(strategy, seed, acc):
        cfg = BASE.replace(strategy=strategy, seed=seed)
        return RunRecord(cfg.run_id(), cfg, "done", 0, 0, 1, "", {"test_accuracy": acc}, {}, 1.0, None)

    clear = [SeedGroup("a", BASE.replace(strategy="finetune_all"), [rec("finetune_all", 0, 0.9), rec("finetune_all", 1, 0.92)]),
             SeedGroup("b", BASE, [rec("feature_extraction", 0, 0.7), rec("feature_extraction", 1, 0.72)])]
    assert "won" in group_winner_sentence(clear)
    noisy = [SeedGroup("a", BASE.replace(strategy="finetune_all"), [rec("finetune_all", 0, 0.6), rec("finetune_all", 1, 0.9)]),
             SeedGroup("b", BASE, [rec("feature_extraction", 0, 0.7), rec("feature_extraction", 1, 0.72)])]
    assert "Too close" in group_winner_sentence(noisy)
    rows = final_table(clear, ["strategy"])
    assert rows[0]["n"] == 2 and rows[0]["test_accuracy"] == pytest.approx(0.91)
    assert rows[0]["test_accuracy_std"] == pytest.approx(1.414, abs=1e-3)
    assert "target_accuracy" not in rows[0]


def test_png_zip_renders_every_chart():
    """Server-side PNG export (only offered when kaleido and a Chromium are installed)."""
    import io
    import zipfile

    from tlcore import plots

    if not plots.png_export_available():
        pytest.skip("kaleido or chromium not installed: the page offers only the toolbar's camera button")
    figs = {"curves": plots.curves([{"label": "a", "x": [1, 2], "mean": [0.5, 0.7]}], "val_acc"),
            "bars": plots.bars(["a", "b"], [0.5, 0.7], "test accuracy")}
    with zipfile.ZipFile(io.BytesIO(plots.png_zip(figs, width=400, height=300))) as z:
        assert sorted(z.namelist()) == ["bars.png", "curves.png"]
        assert all(z.read(n)[:8] == b"\x89PNG\r\n\x1a\n" for n in z.namelist())


def test_missing_numbers_show_a_dash_not_none(tmp_path_factory, monkeypatch):
    """One seed has no spread: the ± column says "–", never the word None."""
    root = runs_store(tmp_path_factory)
    at = open_page(root, monkeypatch, "app_pages/compare.py")
    at.multiselect(key="compare_runs").set_value([BASE.replace(strategy=STRATEGIES[0]).run_id()]).run()
    table = at.dataframe[0].value
    assert list(table["test_accuracy_std"]) == ["–"]
    assert "None" not in table.to_string()
