"""Transfer Lab: the Streamlit entry point. Pages only draw; the engine is ``tlcore``.

Nothing here imports torch: a fresh server's first page must paint without waiting for it
(Home's first paint: tests/test_first_paint.py). Until the process has loaded torch and the
models, the worker, those imports and UMAP's warm-up wait for the browser to paint the page
(``ui.warm``).
"""

from __future__ import annotations

import streamlit as st

from ui import rerun_log, warm, workspace
from ui.sidebar import copy_link, queue_counts, sidebar
from ui.state import get_setup, sync_url
from ui.store import busy, get_store, prestart_worker

started = rerun_log.start()  # TLAB_RERUN_LOG: each full run timed (bench/bench_load.py)
# The link's setup goes into the session before the first command that sends anything: a
# run is interrupted at such a command when a rerun is asked for, and a sidebar click in a
# fresh session's first second (its first run importing the pages) started the new page
# from the bare URL the navigation leaves, with the link's setup lost (test_browser_links).
get_setup()
st.set_page_config(page_title="Transfer Lab", page_icon=":material/science:", layout="wide")
ready = warm.begin()  # whether this run may import torch and the models (ui.warm)

# Pages live in app_pages/, not pages/: Streamlit treats a pages/ folder as its legacy
# multipage mode and serves deep links on a cold server without this file's navigation.
PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/data.py", title="Data", icon=":material/image:"),
    st.Page("app_pages/model.py", title="Model", icon=":material/layers:"),
    st.Page("app_pages/train.py", title="Train", icon=":material/play_circle:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/try_it.py", title="Try it", icon=":material/draw:", url_path="try_it"),
    st.Page("app_pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:"),
    st.Page("app_pages/adapt.py", title="Domain adaptation", icon=":material/join_inner:"),
    st.Page("app_pages/advisor.py", title="Strategy advisor", icon=":material/psychology:"),
    st.Page("app_pages/experiments.py", title="Experiments", icon=":material/science:"),
    st.Page("app_pages/lessons.py", title="Lessons", icon=":material/school:"),
]

if ready:  # else once the browser has painted the page (warm.after_page)
    prestart_worker()  # a first click then finds a worker with torch already imported
nav = st.navigation(PAGES)
sync_url()
workspace.sync_url()
counts = sidebar()
try:
    nav.run()
finally:  # also when a page stops early (st.stop) or reruns
    queue_counts(counts)  # after the page, so runs it just queued are counted and polled
    copy_link()  # after the page, so the link holds the page's own choices too
    with st.sidebar:
        workspace.remember()
    if not ready:  # once the browser has painted: the worker, then torch and the models
        warm.after_page(prestart_worker)
    else:
        # load (or, before `tlcore setup --warm`, compile) UMAP's numba kernels in a background
        # thread, once per server process, holding off while runs train: a person is waiting
        store = get_store()
        warm.umap_warm_up(wait_while=lambda: busy(store))
    rerun_log.stop("full", started)
