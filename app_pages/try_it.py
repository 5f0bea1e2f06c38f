"""Try it: draw, upload or photograph an image and see what each trained run answers,
what it saw and where it looked, side by side.

The chosen runs and the input source live in the URL (``try_runs=id1,id2``,
``try_input=draw``), so a copied link opens the same models; unknown ids are dropped with
a notice. Only finished runs that kept their model can answer; older ones offer a re-run.
"""

from __future__ import annotations

import streamlit as st

from tlcore.compare import parse_run_ids
from tlcore.runs import FINAL
from ui import try_view as tv
from ui.runview import live
from ui.state import get_setup, md_escape, show_notices
from ui.store import get_store
from ui.workspace import empty_scope_hint, link_ids, picker_runs

SEL = "try_selected"  # the user's own pick, kept across page switches (widget state is not)

st.title("Try it")
show_notices()
st.markdown("Give the trained models one image and compare their answers: a model trained from scratch, "
            "one that reuses pretrained features and one fine-tuned from them often answer the same "
            "drawing differently, and look at different parts of it.")
store = get_store()
runs = picker_runs("try", ("done", "queued", "running"),  # newest first
                   keep=[*link_ids("try_runs"), *(st.session_state.get(SEL) or [])])
by_id = {r.id: r for r in runs}
if not any(r.status == "done" for r in runs):
    st.info("No trained runs yet. Run the classic comparison on Home (about a minute), then come back "
            "here to try its three models on your own drawing.", icon=":material/info:")
    st.page_link("app_pages/home.py", label="Home: the classic comparison", icon=":material/home:")
    empty_scope_hint()
    if runs:
        live([r.id for r in runs], key="try_waiting")
    st.stop()

auto = tv.default_runs(list(reversed(runs)), get_setup())
if SEL not in st.session_state:
    ids, bad = parse_run_ids(st.query_params.get("try_runs"), list(by_id))
    if bad:
        st.warning(f"The link named {len(bad)} run(s) this store does not have (or that cannot answer); "
                   f"ignored: {md_escape(', '.join(bad))}", icon=":material/link_off:")
    st.session_state[SEL] = ids[: tv.MAX_RUNS] or None
chosen = tv.pick_runs(runs, st.session_state[SEL] or auto)
st.session_state[SEL] = chosen if chosen != auto else None  # no own pick: follow the newest default

source = st.query_params.get("try_input", "draw")
source = tv.pick_source(source if source in tv.SOURCES else "draw")
for key, value in (("try_runs", ",".join(chosen)), ("try_input", source)):
    if st.query_params.get(key, "") != value:
        if value:
            st.query_params[key] = value
        elif key in st.query_params:
            del st.query_params[key]

left, right = st.columns([1, 2])
with left:
    data, name = tv.READERS[source]()
if not chosen:
    right.info("Pick one or more runs above to see their answers.", icon=":material/touch_app:")
    st.stop()
if data is None:
    right.info({"draw": "Draw a digit on the canvas: the models answer when you lift the mouse.",
                "upload": "Upload an image: every chosen model answers it.",
                "camera": "Take a photo: every chosen model answers it."}[source], icon=":material/draw:")

# One answer per chosen run, computed (or taken from the cache) before anything is drawn, so
# a bad image gets one message and the notes common to every model are shown once.
answers: dict[str, dict] = {}
problems: dict[str, str] = {}
if data is not None:
    from tlcore.predict import BadImage
    from tlcore.trained import NoStoredModel

    for rid in chosen:
        rec = by_id[rid]
        sha = tv.model_sha(rec)
        if rec.status != "done":
            continue
        if sha is None:
            problems[rid] = tv.OLD_RUN
            continue
        try:
            answers[rid] = tv.answer(str(store.root), rid, sha, data, name)
        except BadImage as e:
            right.error(f"That file cannot be used as an image: {e}", icon=":material/broken_image:")
            answers.clear()
            break
        except (NoStoredModel, ValueError) as e:
            problems[rid] = str(e)
notes = [n for n in next(iter(answers.values()), {}).get("notes", ())
         if all(n in a["notes"] for a in answers.values())]
if notes:
    right.markdown("**What was done to the image before the models saw it**")
    for n in notes:
        right.caption(md_escape(n))

cols = st.columns(len(chosen))
for col, rid in zip(cols, chosen, strict=True):
    rec = by_id[rid]
    with col, st.container(border=True):
        if rec.status not in FINAL:
            tv.title(rec)
            live([rid], key=f"try_live_{rid}")
        elif rid in problems or (tv.model_sha(rec) is None and data is None):
            tv.no_model(rec, problems.get(rid) or tv.OLD_RUN)
        elif rid in answers:
            tv.show_answer(rec, answers[rid], notes)
        else:
            tv.title(rec)
            st.caption("Waiting for an image.")
st.caption("The bars are each model's softmax probabilities. The heat maps are Grad-CAM on the last layer "
           "of each network that still keeps a spatial map, for its top class: red is where the evidence "
           "for that class came from, blue where none did.")
