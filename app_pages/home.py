"""Home: transfer learning in plain words, and the one-click classic comparison.

The workflow diagram is drawn last, into a place kept for it above the comparison: its
freeze plan builds a network, so ``ui.workflow`` imports torch and the models, which take a
fresh server process ~5 s on 2 cores. On such a server (``ui.warm.ready`` is False) the
place is a fragment on a timer that holds a note until a background thread, started once
the browser has painted this page, has imported them, and then draws the diagram: a
fragment rerun, so nothing else on the page is redrawn under the person's hands. With ``TLAB_WARMUP=0`` the
diagram is drawn in this run, after the text and the Run button have been sent
(tests/test_first_paint.py checks both).
"""

from __future__ import annotations

import streamlit as st

from tlcore import plots
from tlcore.compare import classic_comparison, label, winner_sentence
from tlcore.names import domain_label
from ui.runview import live
from ui.state import get_setup, md_escape, show_notices
from ui.store import submit
from ui.warm import POLL_S, loaded, ready
from ui.workflow_frame import placeholder

st.title("Transfer Lab")
show_notices()
st.markdown(
    "A network trained on one task has learned features (edges, strokes, textures, shapes) "
    "that often help on another. **Transfer learning** reuses them, so a new task needs far "
    "fewer labels and far less compute. This lab lets you try it on your CPU, in minutes."
)

cols = st.columns(3)
concepts = [
    ("Pretrained models", "A backbone trained on a big source task (ImageNet, or our lab zoo's digit and "
     "clothing tasks). Its early layers detect generic patterns; its late layers are task-specific."),
    ("Feature extraction", "Freeze the whole backbone and train only a new linear head on its features. "
     "Fast, hard to overfit, best when labels are few and the tasks are similar."),
    ("Fine-tuning", "Also update some or all backbone layers, at a lower learning rate than the head. "
     "Wins when you have more labels or the target differs from the source."),
    ("Domain adaptation", "Same classes, different look (MNIST vs coloured MNIST-M). Methods such as DANN "
     "align source and target features using unlabelled target images."),
    ("Task similarity", "How related source and target are decides what transfers: measure it with "
     "domain distances and transferability scores before you train."),
    ("Choosing a strategy", "The rule of thumb reads size and similarity: large, fine-tune everything; small "
     "and similar, fine-tune the top; small and different, freeze. The Strategy advisor measures both and "
     "checks the rule with real runs: it is sometimes wrong."),
]
for i, (title, text) in enumerate(concepts):
    with cols[i % 3].container(border=True):
        st.markdown(f"**{title}**  \n{text}")

base = get_setup()
# The workflow diagram's place, filled at the end of the page (see the module docstring). A
# container, not st.empty: on a rerun the browser keeps showing the last diagram until the
# new one replaces it, where an empty placeholder would blank it for a moment.
diagram = st.container()

st.header("The classic comparison")
configs = classic_comparison(base)
labels = "all" if base.labels_per_class is None else base.labels_per_class
st.markdown(
    f"Train three models on **{md_escape(domain_label(base.dataset))}** with **{labels} labels per class**, each for "
    f"{base.epochs} epochs: from scratch, feature extraction on the pretrained **{base.backbone}** "
    "backbone, and fine-tuning all of it. Change the data or backbone on the Data and Model pages."
)


def results(recs: list) -> None:
    """The answer: who won and by how much, test accuracy bars, and what it ran on."""
    done = [r for r in recs if r.status == "done"]
    if len(done) < len(configs):
        return
    st.success(winner_sentence(done), icon=":material/emoji_events:")
    st.plotly_chart(plots.bars([label(r.config) for r in done], [r.metrics["test_accuracy"] for r in done],
                               "test accuracy"), key="home_bars")
    pretrained = next((r for r in done if r.config.strategy != "scratch"), done[0])
    w = pretrained.provenance.get("weights", {})
    st.caption(f"Weights: {w.get('source', '?')}. Data: "
               f"{pretrained.provenance.get('data', {}).get('source', {}).get('source', '?')}.")


def draw_diagram() -> None:
    """The workflow, with this setup's choices in its boxes. ``ui.workflow`` is imported here,
    not at the top: it brings torch and the models (see the module docstring)."""
    from ui.workflow import draw_workflow

    draw_workflow(base)


@st.fragment(run_every=POLL_S)
def diagram_once_loaded() -> None:
    """On a fresh server: a note, then the diagram once the models are imported."""
    if loaded():
        draw_diagram()
    else:  # in a box of the diagram's size: the Run button below stays where it is
        placeholder("The workflow diagram appears here in a few seconds, once this fresh server "
                    "has loaded its models.")


def workflow_diagram() -> None:
    """Fill the diagram's place: at once when this run may import the models, else through
    the fragment above."""
    with diagram:
        if ready():
            draw_diagram()
        else:
            diagram_once_loaded()


clicked = st.button("Run the classic comparison", type="primary", icon=":material/play_arrow:", key="home_run")
if clicked:
    workflow_diagram()  # before submit: a full queue stops the page there, under its message
    st.session_state["home_ids"] = submit(configs)
ids = st.session_state.get("home_ids") or [c.run_id() for c in configs]
recs = live(ids, key="home", on_done=results)
if not recs:
    st.info("Not run yet for this setup. It takes about a minute on a 2-core laptop.", icon=":material/timer:")
if not clicked:
    workflow_diagram()  # last: the text and the Run button above are already on screen
