"""The teacher view (tlcore.classview, the Lessons page's Class results): in a shared
workspace, each person's runs of one lesson step are dots by strategy, with the dots'
values read from the stored runs, and the view follows runs that are still training."""

from __future__ import annotations

import json

from tests.engine_helpers import TINY
from tests.page_helpers import app_for
from tlcore import classview
from tlcore.compare import CLASSIC
from tlcore.runs import Store

ACC = {"scratch": 0.3, "feature_extraction": 0.6, "finetune_all": 0.7}


def _class(store: Store, people: int, finish: bool = True) -> list[str]:
    """Each person (a browser session) runs the classic comparison with their own seed."""
    ids = []
    for p in range(people):
        for s in CLASSIC:
            rid, _ = store.submit(TINY.replace(strategy=s, seed=p), owner=f"session-{p}", ws="class")
            ids.append(rid)
            if finish:
                store.claim(rid)
                store.finish(rid, "done", metrics={"test_accuracy": ACC[s] + p / 100}, seconds=1.0)
    return ids


def test_steps_group_by_setup_and_name_people_in_order(tmp_path):
    store = Store(tmp_path)
    _class(store, 3)
    store.submit(TINY.replace(labels_per_class=7), owner="cli-99", ws="class")  # another step
    steps = classview.steps(store.list(ws="class"))
    assert [len(s.runs) for s in steps] == [9, 1]
    assert set(classview.students(steps[0].runs).values()) == {"student 1", "student 2", "student 3"}
    assert classview.students(steps[1].runs) == {"cli-99": "command line"}
    pts = classview.points(steps[0])
    assert sorted((p["who"], p["strategy"], p["accuracy"]) for p in pts) == sorted(
        (f"student {p + 1}", s, ACC[s] + p / 100) for p in range(3) for s in CLASSIC)


def test_the_lessons_page_draws_each_persons_dots_and_follows_training(tmp_path, monkeypatch):
    store = Store(tmp_path)
    _class(store, 2)
    late = _class(store, 3, finish=False)[-3:]  # the third person's runs are still queued
    at = app_for(tmp_path, monkeypatch)
    at.query_params["ws"] = "class"
    at.run()
    at.switch_page("app_pages/lessons.py").run()
    assert not at.exception, [e.value for e in at.exception]
    fig = json.loads(at.get("plotly_chart")[-1].proto.spec)  # the last section's chart
    dots = {t["name"]: sorted(t["y"]) for t in fig["data"] if t["type"] == "box"}
    assert dots["From scratch"] == [0.3, 0.31] and len(dots) == 3
    assert any("6 finished runs from 3 people; 3 still queued or training" in c.value for c in at.caption), \
        [c.value for c in at.caption]
    for rid in late:
        store.claim(rid)
        store.finish(rid, "done", metrics={"test_accuracy": 0.9}, seconds=1.0)
    at.run()
    fig = json.loads(at.get("plotly_chart")[-1].proto.spec)
    dots = {t["name"]: sorted(t["y"]) for t in fig["data"] if t["type"] == "box"}
    assert dots["Fine-tune all"] == [0.7, 0.71, 0.9]
    assert any("9 finished runs from 3 people." in c.value for c in at.caption)


def test_names_people_gave_replace_their_numbers_and_forgetting_brings_the_number_back(tmp_path):
    store = Store(tmp_path)
    _class(store, 2)
    store.set_name("session-1", "Ada")
    step = classview.steps(store.list(ws="class"))[0]
    named = store.names(r.owner for r in step.runs)
    assert named == {"session-1": "Ada"}
    assert classview.students(step.runs, named) == {"session-0": "student 1", "session-1": "Ada"}
    assert {p["who"] for p in classview.points(step, named)} == {"student 1", "Ada"}
    store.set_name("session-1", "Ada L.")  # renaming replaces
    assert store.names(["session-1", "nobody"]) == {"session-1": "Ada L."}
    store.set_name("session-1", None)
    assert store.names(["session-1"]) == {}


def test_a_name_is_cleaned_and_escaped_where_it_is_drawn():
    from tlcore import plots
    from tlcore.workspaces import NAME_MAX, clean_name

    assert clean_name("  Ada \t  Lovelace\n") == "Ada Lovelace"
    assert clean_name("a\x00b\x1bc") == "abc"
    assert clean_name("   ") is None and clean_name(None) is None
    assert clean_name("x" * 100) == "x" * NAME_MAX
    fig = plots.class_dots([{"strategy": "scratch", "accuracy": 0.5, "seed": 1, "who": "<b>Eve</b>"}],
                           {"scratch": "From scratch"}, "test accuracy")
    text = [t for t in fig.data if t.type == "box"][0].text
    assert text == ("&lt;b&gt;Eve&lt;/b&gt;, seed 1",)


def test_the_sidebar_keeps_a_persons_name_for_the_class_view(tmp_path, monkeypatch):
    store = Store(tmp_path)
    at = app_for(tmp_path, monkeypatch)
    at.query_params["ws"] = "class"
    at.run()
    at.text_input(key="ws_name").input("  Grace \n Hopper ").run()
    assert not at.exception, [e.value for e in at.exception]
    me = at.session_state["tl_owner"]
    assert me.startswith("browser-") and store.names([me]) == {me: "Grace Hopper"}
    assert at.text_input(key="ws_name").value == "Grace Hopper"  # shown as kept
    at.text_input(key="ws_name").input("").run()
    assert store.names([me]) == {}
