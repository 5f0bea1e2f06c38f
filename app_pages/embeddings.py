"""Embeddings: where the test images sit in feature space, before and after a run.

One map is fitted on the pretrained and the after-run features of the same images
(source and target together), so what moves between the panels is the features, not a
new random layout. PCA is drawn at once; UMAP follows under a spinner.
"""

from __future__ import annotations

import streamlit as st

from tlcore import plots
from tlcore.compare import describe_run
from tlcore.embed import MAX_POINTS, fit_map
from tlcore.names import pair_label
from tlcore.pretrained_features import (
    FeatureSet,
    config_key,
    from_key,
    picture,
    pretrained_features,
    run_features,
    split_images,
)
from tlcore.strategies import title as strategy_title
from ui.state import get_setup, keep_in_url, show_notices, url_choice
from ui.store import get_store
from ui.workspace import picker_runs

SETUP = "setup"  # the "run" choice meaning: no run, the current setup's pretrained features


@st.cache_data(max_entries=8, show_spinner="Computing the pretrained backbone's features…")
def before(key: str) -> FeatureSet:
    return pretrained_features(from_key(key))


@st.cache_data(max_entries=8, show_spinner=False)
def images(key: str) -> dict:
    return {d: v.numpy() for d, v in split_images(from_key(key)).items()}


@st.cache_data(max_entries=32, show_spinner=False)
def projection(key: str, run_id: str | None, method: str, after_title: str) -> list:
    """Both panels through one map fitted on both (see tlcore.embed.fit_map)."""
    fs = before(key)
    sets = [("pretrained", fs)]
    after = run_features(get_store().load_artifacts(run_id), fs.class_names) if run_id else None
    if after is not None:
        sets.append((after_title, after))
    return fit_map(sets, method, seed=0, class_names=fs.class_names).panels()


st.title("Embeddings")
show_notices()
st.markdown("Each dot is one test image, placed by its feature vector. Points of one class that "
            "cluster together, and target points that sit among the source points of their class, "
            "are what makes a linear head (and transfer) work.")

store = get_store()
done = {r.id: r for r in picker_runs("emb", "done", keep=[st.query_params.get("emb_run", "")])}
c1, c2 = st.columns([3, 1])
choice = c1.selectbox(
    "Features after which run", [SETUP, *done], key="emb_run",
    index=url_choice("emb_run", [SETUP, *done], 1 if done else 0),
    format_func=lambda i: "none: only the current setup's pretrained features" if i == SETUP
    else describe_run(done[i]))
keep_in_url("emb_run", choice)
cfg = get_setup() if choice == SETUP else done[choice].config
color_by = c2.radio("Colour by", ["domain", "class"], horizontal=True, key="emb_color",
                    index=0 if cfg.target else 1)  # one domain only: class is what there is to see
key = config_key(cfg)
run_id = None if choice == SETUP else choice
title = "after " + strategy_title(cfg.strategy)

try:
    fs = before(key)
except (ValueError, KeyError, RuntimeError, OSError) as e:
    st.error(f"Cannot compute the pretrained features for this setup: {e}", icon=":material/error:")
    st.stop()
counts = " and ".join(f"{len(v)} {d}" for d, v in fs.labels.items())
st.caption(f"`{cfg.backbone}` features ({fs.dim}-d) of {counts} test images of "
           f"`{pair_label(cfg.dataset, cfg.target)}`, at most {MAX_POINTS:,} drawn "
           "(stratified by domain and class). Hover a point for its class; click it to see the image.")
if run_id and cfg.strategy == "feature_extraction":
    st.info("Feature extraction keeps the backbone frozen, so its features are the pretrained ones: "
            "both panels are identical by design.", icon=":material/lock:")


def view(method: str, axis: str) -> None:
    """One map (both panels) plus the image behind a clicked point."""
    pts = projection(key, run_id, method, title)
    if run_id and len(pts) < 2:
        st.caption("This run stored no features (made before runs kept them?): only the pretrained panel.")
    left, right = st.columns([5, 1])
    fig = plots.embedding(pts, color_by, axis_prefix=axis)
    event = left.plotly_chart(fig, on_select="rerun", selection_mode="points", key=f"emb_{method}",
                              config=plots.CHART_CONFIG)
    picked = event.selection.points if event else []
    with right:
        if picked and picked[0].get("customdata"):
            domain, index, name, stage = picked[0]["customdata"][:4]
            st.image(picture(images(key)[domain][int(index)]), caption=f"{domain} image #{index}: class {name}")
        else:
            st.caption("Click a point to see its image here.")


st.subheader("PCA: the two directions of largest variance")
view("pca", "PC")
st.subheader("UMAP: local neighbourhoods kept")
with st.spinner("Fitting UMAP (a few seconds; the first map after a restart also compiles, ~20 s)…"):
    view("umap", "")
shapes = ("Circles are source images, diamonds target images. " if cfg.target
          else "There is no target domain in this setup, so every point is a source image. ")
st.caption(shapes + "Both panels of a chart come from one map fitted on both feature sets, so movement "
           "between panels is the training's doing, not a new random layout. The camera button in a "
           "chart's toolbar saves it as PNG.")
