"""Compare's error analysis: clickable confusion matrices, the test images in a picked cell,
the most confident mistakes, a re-run for runs stored without answers, and the model download.

The choice of cell lives in two selectboxes per run and split (widget state); a click on a
matrix cell sets them through the chart's ``on_select`` callback. Changing a selectbox by
hand gives the chart a new key, so a stale chart selection never fights the boxes. On a
plain rerun nothing is loaded again: the answers and the datasets come from caches.
"""

from __future__ import annotations

from functools import partial

import plotly.graph_objects as go
import streamlit as st
import torch

from tlcore import plots
from tlcore.data import load_domain
from tlcore.errors import (
    OLD_RUN,
    Answers,
    all_answers,
    caption,
    domain_text,
    most_confused,
    pictures_of,
)
from tlcore.pretrained_features import picture
from tlcore.runs import RunRecord
from tlcore.workspaces import NotAllowed
from ui.downloads import prepared_download
from ui.store import get_store, submit

SHOW = 24  # thumbnails in a cell's gallery
TOP = 12  # thumbnails in the most-confident-mistakes gallery
THUMB = 112  # pixels: 28 px digits x4, 32 px x3, 8 px x14 (nearest neighbour)
PER_ROW = 7  # 112 px thumbnails fit 7 to a row in the wide layout's main area at 1366 px
SPLIT_TITLE = {"test": "source test images", "target": "target test images"}
FORMATS = {"onnx": "ONNX", "torchscript": "TorchScript"}  # titles of tlcore.model_card.FORMATS


@st.cache_resource(max_entries=4, show_spinner="Loading the test images (once per dataset)…")
def domain_images(text: str, seed: int) -> torch.Tensor:
    """uint8 ``[M, C, H, W]``: a domain's images as the run loaded them (read-only, shared)."""
    return load_domain(text, seed=seed).images


@st.cache_data(max_entries=32, show_spinner=False)
def run_answers(root: str, rid: str, stamp: float) -> dict[str, Answers]:
    """A run's stored per-image answers by split; ``stamp`` (the run's last update) makes a
    re-run under the same id load afresh. ``root`` keys the cache by store."""
    return all_answers(get_store().load_artifacts(rid))


def _ns(rid: str, split: str) -> str:
    return f"err_{rid}_{split}"


def _names(rec: RunRecord) -> list[str]:
    return rec.metrics.get("class_names") or [str(i) for i in range(len(rec.metrics["confusion"]))]


def _clicked(chart_key: str, rid: str, split: str) -> None:
    """A cell was clicked: its marker's customdata is ``[true, predicted, count]``."""
    points = st.session_state[chart_key]["selection"]["points"]
    if points and points[0].get("customdata"):
        t, p = points[0]["customdata"][:2]
        st.session_state[_ns(rid, split) + "_true"] = int(t)
        st.session_state[_ns(rid, split) + "_pred"] = int(p)
        st.session_state[f"err_{rid}_split"] = split


def _typed(ns: str) -> None:
    st.session_state[ns + "_gen"] = st.session_state.get(ns + "_gen", 0) + 1


def confusion_chart(col, fig: go.Figure, rec: RunRecord, split: str) -> None:
    """One confusion heatmap in ``col``; clicking a cell picks it for the gallery below."""
    if split not in run_answers(str(get_store().root), rec.id, rec.updated):
        col.plotly_chart(fig, config=plots.CHART_CONFIG, key=f"err_{rec.id}_{split}_plain")
        return  # an old run: nothing to show for a click (the section below says so)
    ns = _ns(rec.id, split)
    cm = rec.metrics["confusion" if split == "test" else "target_confusion"]
    key = f"{ns}_chart{st.session_state.get(ns + '_gen', 0)}"
    col.plotly_chart(plots.add_cell_targets(fig, _names(rec), cm), config=plots.CHART_CONFIG, key=key,
                     on_select=partial(_clicked, key, rec.id, split), selection_mode="points")


def gallery(images: torch.Tensor, names: list[str], a: Answers, rows) -> None:
    """Thumbnails of ``rows`` of ``a``, enlarged by whole pixels, each captioned, in a grid
    (one column each, so captions wrap under their own image instead of running together)."""
    pics = pictures_of(images, a, rows)
    for start in range(0, len(rows), PER_ROW):
        for col, x, r in zip(st.columns(PER_ROW), pics[start:start + PER_ROW],
                             rows[start:start + PER_ROW], strict=False):
            col.image(picture(x, THUMB), caption=caption(names, a, int(r)),
                      output_format="PNG")  # JPEG would smear the enlarged pixels


def _cell(images: torch.Tensor, names: list[str], a: Answers, ns: str) -> None:
    k = len(names)
    default = most_confused(a.confusion(k)) or (0, 0)
    st.session_state.setdefault(ns + "_true", default[0])
    st.session_state.setdefault(ns + "_pred", default[1])
    c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="bottom")
    t = c1.selectbox("True class", range(k), format_func=names.__getitem__, key=ns + "_true",
                     on_change=_typed, args=(ns,))
    p = c2.selectbox("Predicted as", range(k), format_func=names.__getitem__, key=ns + "_pred",
                     on_change=_typed, args=(ns,))
    c3.caption("Or click a cell of the confusion matrix above.")
    rows = a.cell(t, p)
    if not len(rows):
        st.caption(f"No {SPLIT_TITLE[a.split][:-1]} of class {names[t]} was predicted as "
                   f"{names[p]}.")
        return
    what = ("answered right, closest calls first" if t == p
            else f"predicted as **{names[p]}**, most confident first")
    shown = f"; the first {SHOW} shown" if len(rows) > SHOW else ""
    plural = "s" if len(rows) != 1 else ""
    st.markdown(f"**{len(rows)}** image{plural} of class **{names[t]}** {what}{shown}.")
    gallery(images, names, a, rows[:SHOW])


def _mistakes(images: torch.Tensor, names: list[str], a: Answers) -> None:
    rows = a.mistakes(TOP)
    wrong = int((a.pred != a.labels).sum())
    st.markdown(f"**Most confident mistakes**: {wrong} of {len(a)} {SPLIT_TITLE[a.split]} are "
                f"wrong; the {len(rows)} with the highest loss of the true class (the lowest "
                "probability for the right answer) come first.")
    if len(rows):
        gallery(images, names, a, rows)
    else:
        st.success(f"No mistakes on these {len(a)} images.", icon=":material/check_circle:")


def why_it_errs(rec: RunRecord) -> None:
    """The images behind the confusion matrices of ``rec`` (a finished run), or a plain
    word and a re-run button for a run stored without per-image answers."""
    store = get_store()
    st.markdown("#### Which images it gets wrong")
    answers = run_answers(str(store.root), rec.id, rec.updated)
    if not answers:
        st.info(OLD_RUN, icon=":material/history:")
        st.button("Re-run it", key=f"err_{rec.id}_rerun", icon=":material/replay:",
                  on_click=_rerun, args=(rec,), help="Deletes the stored run and queues the same "
                  "config; it trains in the background and comes back here when done.")
        return
    split = "test"
    if len(answers) > 1:
        split = st.radio("Images from", list(answers), key=f"err_{rec.id}_split", horizontal=True,
                         format_func=lambda s: f"{SPLIT_TITLE[s]} ({domain_text(rec.config, s)})")
    a, names = answers[split], _names(rec)
    try:
        images = domain_images(domain_text(rec.config, split), rec.config.seed)
        _cell(images, names, a, _ns(rec.id, split))
        _mistakes(images, names, a)
    except (ValueError, KeyError, RuntimeError, OSError) as e:
        st.error(f"Cannot show the {SPLIT_TITLE[split]} of `{domain_text(rec.config, split)}`: {e}",
                 icon=":material/error:")


def _rerun(rec: RunRecord) -> None:
    store = get_store()
    now = store.get(rec.id, history=False)
    if now is None or now.status != "done" or all_answers(store.load_artifacts(rec.id)):
        st.toast("This run changed since the page was drawn (re-run from another tab?); "
                 "nothing was queued.", icon=":material/info:")
        return  # never delete a run that is queued, running or already has its answers
    try:
        submit([rec.config], rerun=True, stop_when_full=False)
    except NotAllowed as e:
        st.toast(str(e), icon=":material/block:")
        return
    run_answers.clear()
    st.toast("Queued again with the same config. It trains in the background (follow it on the "
             "Train page); its images show here when it is done.", icon=":material/replay:")


def model_download(col, rec: RunRecord) -> None:
    """A download of ``rec``'s model as ONNX or TorchScript, exported only when clicked (the
    data is a callable), never on a plain rerun."""
    try:
        from tlcore.export import export_zip
        from tlcore.model_card import FORMATS as MODEL_FILES
    except ImportError:
        col.caption("Model download is not available in this version (no `tlcore.export`).")
        return
    store = get_store()
    if not store.has_model(rec.id):
        col.caption("This run kept no model (stored before runs kept them): re-run it to "
                    "download it.")
        return
    fmt = col.radio("Model format", list(MODEL_FILES), format_func=lambda f: FORMATS.get(f, f),
                    horizontal=True, key="err_export_fmt",
                    help="Of the run picked for the confusion matrices above.")
    what = f"model ({FORMATS.get(fmt, fmt)}, zip)"
    prepared_download(col, f"Download {what}", lambda: export_zip(store, rec.id, fmt)[1],
                      f"transfer-lab-{rec.id}-{fmt}.zip",  # the name export_zip gives it
                      "application/zip", key=f"err_export_{fmt}",
                      version=str(rec.provenance.get("model", {}).get("sha256")), prepare=f"Prepare {what}",
                      help="The model file and its model card, exported on the server (a few seconds).")
