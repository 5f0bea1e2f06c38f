"""Each page's own choices live in the link: opened with them, the page shows them, and a
change is written back (AppTest reads ``query_params`` as the browser's address bar)."""

from __future__ import annotations

from tests.page_helpers import app_for
from tlcore.lessons import load_all


def _open(tmp_path, monkeypatch, page: str, **params):
    at = app_for(tmp_path, monkeypatch)
    at.run()
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_lesson_step_comes_from_the_link(tmp_path, monkeypatch):
    second = load_all()[1].slug
    at = _open(tmp_path, monkeypatch, "app_pages/lessons.py", lesson=second)
    assert at.radio(key="lesson_pick").value == second
    first = load_all()[0].slug
    at.radio(key="lesson_pick").set_value(first).run()
    assert at.query_params["lesson"] == first


def test_experiment_settings_come_from_the_link(tmp_path, monkeypatch):
    at = _open(tmp_path, monkeypatch, "app_pages/experiments.py", exp_ks="2,10", exp_seeds="4",
               exp_strats="scratch,finetune_all")
    assert at.multiselect(key="exp_ks").value == [2, 10]
    assert at.multiselect(key="exp_seeds").value == [4]
    assert at.multiselect(key="exp_strats").value == ["scratch", "finetune_all"]
    at.multiselect(key="exp_ks").set_value([1, 2, 10]).run()
    assert at.query_params["exp_ks"] == "1,2,10"
    yos = _open(tmp_path, monkeypatch, "app_pages/experiments.py", exp_yos_seeds="1,2", exp_yos_epochs="2")
    assert yos.multiselect(key="exp_yos_seeds").value == [1, 2]
    assert yos.select_slider(key="exp_yos_epochs").value == 2


def test_advisor_choices_come_from_the_link_and_junk_is_ignored(tmp_path, monkeypatch):
    at = _open(tmp_path, monkeypatch, "app_pages/advisor.py", adv_backbones="lab_mnist,nope",
               adv_primary="leep")
    assert at.multiselect(key="adv_backbones").value == ["lab_mnist"]
    assert at.selectbox(key="adv_primary").value == "leep"
    assert at.query_params["adv_backbones"] == "lab_mnist"
