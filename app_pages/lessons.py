"""Lessons: short guided walk-throughs of the other pages (text in assets/lessons/)."""

from __future__ import annotations

import streamlit as st

from tlcore.lessons import load_all, setup_params
from tlcore.urlstate import config_from_params
from ui.state import set_setup, show_notices

st.title("Lessons")
show_notices()
st.markdown("Each lesson is a few steps on the other pages. A step's button loads the setup it "
            "needs and opens the page; come back here for the next step. *Look for* says what to "
            "notice. Runs are stored, so a step someone already ran shows its results at once.")

lessons = load_all()
if not lessons:
    st.warning("No lessons found in assets/lessons/.", icon=":material/warning:")
    st.stop()
titles = {lesson.slug: f"{i}. {lesson.title}" for i, lesson in enumerate(lessons, 1)}
slug = st.radio("Lesson", list(titles), format_func=titles.get, key="lesson_pick", horizontal=True)
lesson = next(x for x in lessons if x.slug == slug)

st.header(lesson.title)
st.markdown(lesson.intro)
for n, step in enumerate(lesson.steps, 1):
    with st.container(border=True):
        st.markdown(f"**Step {n}: {step.title}**")
        st.markdown(step.text)
        label = "Load this setup and open the page" if step.setup else "Open the page"
        if st.button(label, key=f"lesson_{slug}_{n}", icon=":material/arrow_forward:"):
            params = setup_params(step)
            if params:
                cfg, notices = config_from_params(params)
                set_setup(cfg)
                st.session_state["tl_notices"] = notices  # none for our own lessons (a test checks)
            st.switch_page(f"app_pages/{step.page}.py")
