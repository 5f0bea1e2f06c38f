"""Every lesson parses, names real pages, and its setups are valid links; the page loads
a step's setup and opens its page."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlcore.lessons import PAGES, load_all, parse, setup_params
from tlcore.urlstate import config_from_params

ROOT = Path(__file__).resolve().parent.parent


def test_every_lesson_is_well_formed():
    lessons = load_all()
    assert len(lessons) >= 4
    for lesson in lessons:
        assert lesson.intro and lesson.steps
        for step in lesson.steps:
            assert (ROOT / "app_pages" / f"{PAGES[step.page]}.py").is_file(), step.page
            assert "Look for" in step.text or step.page == "compare" or len(step.text) > 40, step.title
            params = setup_params(step)
            if params:
                cfg, notices = config_from_params(params)
                assert notices == [], (lesson.slug, step.title, notices)
                assert set(params) <= set(cfg.to_dict())


def test_parse_refuses_unknown_pages_and_empty_lessons():
    with pytest.raises(ValueError, match="unknown page"):
        parse("# T\nintro\n## S\npage: nowhere\ntext", "x")
    with pytest.raises(ValueError, match="at least one"):
        parse("# T\nonly an intro", "x")
    lesson = parse("# T\nintro\n## S\npage: adapt\nsetup: dataset=digits&epochs=2\nDo it.\nLook for: x", "x")
    assert lesson.steps[0].page == "adapt" and setup_params(lesson.steps[0]) == {"dataset": "digits", "epochs": "2"}
    assert lesson.steps[0].text == "Do it.\nLook for: x"


def test_lessons_page_loads_a_setup_and_opens_its_page(tmp_path, monkeypatch):
    """A step's setup is loaded only after its change list is confirmed (Apply), and then
    equals the step's link (the user's strategy kept); its Open button goes to the page."""
    from streamlit.testing.v1 import AppTest

    from tlcore.config import RunConfig

    monkeypatch.setenv("TLAB_DATA_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("app_pages/lessons.py").run()
    assert not at.exception, [e.value for e in at.exception]
    # the first step whose setup differs from the defaults, so loading it changes something
    lesson, n, want = next((les, i, cfg) for les in load_all() for i, step in enumerate(les.steps, 1)
                           if step.setup and (cfg := config_from_params(setup_params(step))[0]
                                              .replace(strategy=RunConfig().strategy)) != RunConfig())
    at.radio(key="lesson_pick").set_value(lesson.slug).run()
    assert any(lesson.title in h.value for h in at.header)
    at.button(key=f"lesson_{lesson.slug}_{n}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["tl_setup"] == RunConfig()  # nothing changes before Apply
    at.button(key=f"lesson_{lesson.slug}_{n}_apply").click().run()
    assert at.session_state["tl_setup"] == want
    at.button(key=f"lesson_{lesson.slug}_{n}_open").click().run()
    assert not at.exception, [e.value for e in at.exception]
