"""Lessons: short guided walk-throughs of the other pages (text in assets/lessons/)."""

from __future__ import annotations

import streamlit as st

from tlcore.lessons import load_all, setup_params
from tlcore.presets import from_link
from ui.class_view import class_results
from ui.presets import preset_button
from ui.state import keep_in_url, show_notices, url_choice
from ui.workspace import scope_words

st.title("Lessons")
show_notices()
st.markdown("Each lesson is a few steps on the other pages. *Load this setup* lists what it "
            "changes in your setup before it does (and can be undone); *Open the page* goes there; "
            "come back here for the next step. *Look for* says what to notice. Runs are stored, "
            "so a step someone already ran shows its results at once.")
NAMES = {"adapt": "Domain adaptation", "advisor": "Strategy advisor"}  # app.py's page titles

lessons = load_all()
if not lessons:
    st.warning("No lessons found in assets/lessons/.", icon=":material/warning:")
    st.stop()
titles = {lesson.slug: f"{i}. {lesson.title}" for i, lesson in enumerate(lessons, 1)}
slug = st.radio("Lesson", list(titles), format_func=titles.get, key="lesson_pick", horizontal=True,
                index=url_choice("lesson", list(titles)))
keep_in_url("lesson", slug)
lesson = next(x for x in lessons if x.slug == slug)

st.header(lesson.title)
st.markdown(lesson.intro)
for n, step in enumerate(lesson.steps, 1):
    with st.container(border=True):
        st.markdown(f"**Step {n}: {step.title}**")
        st.markdown(step.text)
        if step.setup:  # asks first, lists what it changes, and can be undone
            preset, notices = from_link(setup_params(step))
            for notice in notices:  # none for our own lessons (a test checks)
                st.warning(f"Setup line: {notice}", icon=":material/link_off:")
            preset_button("Load this setup", preset, f"lesson_{slug}_{n}", icon=":material/download:")
        page = NAMES.get(step.page, step.page.capitalize())
        if st.button(f"Open the {page} page", key=f"lesson_{slug}_{n}_open", icon=":material/arrow_forward:"):
            st.switch_page(f"app_pages/{step.page}.py")

st.header("Class results")
st.markdown(f"Everyone's runs {scope_words()}, one lesson step at a time: a dot per person's run, by "
            "strategy. On a class server, give the class one workspace code (sidebar) and this is the "
            "teacher's view of the room.")
class_results()
