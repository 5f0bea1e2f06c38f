"""The Model page (AppTest): backbone, weights, input size, freeze plan, BN policy, estimate."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.page_helpers import APP

HEAD = 128 * 10 + 10  # the lab ResNet's new head for 10 classes


def _model_page(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page("app_pages/model.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def setup(at: AppTest):
    return at.session_state["tl_setup"]


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _edit(at: AppTest, rows: dict) -> None:
    """Edit the layer table as a user would (row index -> {column: value}) and rerun."""
    key = at.data_editor[0].key
    at.session_state[key] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_presets_set_strategy_and_trainable_count(tmp_data_dir):
    at = _model_page()
    assert setup(at).strategy == "feature_extraction"
    assert metric(at, "Trainable parameters") == f"{HEAD:,}"
    assert metric(at, "Groups computed once") == "4 of 4"
    assert any("Only the new head trains" in i.value for i in at.info)
    table = at.data_editor[0].value
    assert list(table["group"]) == ["stem", "block1", "block2", "block3", "head"]
    assert list(table["trains"]) == [False, False, False, False, True]

    at.radio(key="model_preset").set_value("finetune_all").run()
    assert setup(at).strategy == "finetune_all"
    total = sum(at.data_editor[0].value["parameters"])
    assert metric(at, "Trainable parameters") == f"{total:,}"
    assert metric(at, "Groups computed once") == "0 of 4"

    at.radio(key="model_preset").set_value("finetune_top").run()
    at.number_input(key="model_knob_top_k").set_value(2).run()
    assert (setup(at).strategy, setup(at).top_k) == ("finetune_top", 2)
    assert list(at.data_editor[0].value["trains"]) == [False, False, True, True, True]
    assert metric(at, "Groups computed once") == "2 of 4"
    assert "s" in metric(at, "Estimated run time")


def test_table_toggles_make_a_custom_plan(tmp_data_dir):
    at = _model_page()
    _edit(at, {0: {"trains": True}, 3: {"trains": True}})
    cfg = setup(at)
    assert cfg.strategy == "custom" and cfg.trainable_groups == ("stem", "block3")
    assert at.radio(key="model_preset").value == "custom"
    assert list(at.data_editor[0].value["trains"]) == [True, False, False, True, True]
    assert metric(at, "Groups computed once") == "0 of 4"  # the stem trains: nothing is fixed
    _edit(at, {2: {"LR ×": 0.5}})
    assert setup(at).lr_mults == (("block2", 0.5),)
    # unticking the head is explained and undone
    _edit(at, {4: {"trains": False}})
    assert any("always trains" in i.value for i in at.info)
    assert at.data_editor[0].value["trains"].iloc[-1]
    # switching to a preset clears the custom toggles from the table
    at.radio(key="model_preset").set_value("feature_extraction").run()
    assert list(at.data_editor[0].value["trains"]) == [False, False, False, False, True]


def test_bn_policy_and_backbone_lr(tmp_data_dir):
    at = _model_page({"strategy": "finetune_top"})
    assert metric(at, "Groups computed once") == "3 of 4"
    at.radio(key="model_bn").set_value("stats").run()
    assert setup(at).bn_policy == "stats"
    assert metric(at, "Groups computed once") == "0 of 4"  # moving BN statistics: no fast path
    at.select_slider(key="model_blr").set_value(0.3).run()
    assert setup(at).backbone_lr_mult == 0.3
    assert at.data_editor[0].value["LR ×"].iloc[0] == 0.3


def test_missing_weights_are_explained_never_replaced(tmp_data_dir):
    at = _model_page()
    at.selectbox(key="model_bb").select("resnet18").run()
    assert not at.exception
    cfg = setup(at)
    assert cfg.backbone == "resnet18" and cfg.weights is None  # still asks for ImageNet weights
    assert any("not available" in e.value and "never fall back" in e.value for e in at.error)
    at.selectbox(key="model_w").select("none").run()
    assert setup(at).weights == "none"
    assert not at.error and any("Random init" in w.value for w in at.warning)


def test_input_size_for_torchvision_models_only(tmp_data_dir):
    at = _model_page()
    assert "model_size" not in [s.key for s in at.select_slider]  # lab models: fixed 32 px
    assert any("fixed" in m.value for m in at.markdown)
    at.selectbox(key="model_bb").select("mobilenet_v2").run()
    assert at.select_slider(key="model_size").value == 64
    stem_at_64 = at.data_editor[0].value["output shape"].iloc[0]
    at.select_slider(key="model_size").set_value(32).run()
    assert setup(at).input_size == 32
    assert at.data_editor[0].value["output shape"].iloc[0] != stem_at_64  # shapes follow the size
    at.select_slider(key="model_size").set_value(64).run()
    assert setup(at).input_size is None  # the default is not spelled out in the link


def test_batchnorm_policy_is_offered_only_where_a_group_is_frozen(tmp_path, monkeypatch):
    from tests.page_helpers import open_page
    from tlcore.config import RunConfig

    at = open_page(tmp_path, monkeypatch, "app_pages/model.py", RunConfig(strategy="finetune_all"))
    assert not [r for r in at.radio if r.key == "model_bn"]
    assert any("policy does not apply" in c.value for c in at.caption)
    at = open_page(tmp_path, monkeypatch, "app_pages/model.py", RunConfig(strategy="finetune_top"))
    assert [r for r in at.radio if r.key == "model_bn"]
