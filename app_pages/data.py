"""Data: the source domain (and optionally a target), the label budget, and a look at what
a run will see: samples per class, class counts, and where the files came from."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from tlcore import plots
from tlcore.data import DATASETS, list_datasets, parse_domain
from tlcore.preview import (
    GAP,
    UploadRejected,
    ingest_upload,
    label_budget,
    preview_domain,
    upload_info,
)
from ui.dataset_maker import dataset_maker
from ui.pairs import pair_check
from ui.pickers import bind, dataset_options, domain_picker, setter, show_errors
from ui.state import get_setup, md_escape, show_notices, update_setup, widget_callback

BUDGETS = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]


@st.cache_data(show_spinner="Loading samples…", max_entries=32)
def _preview(text: str, seed: int):
    """Keyed by (domain text, seed); an upload's text holds its sha256, so it is safe too."""
    return preview_domain(text, seed=seed)


def _label(name: str) -> str:
    if name in DATASETS:
        return DATASETS.get(name).title
    info = upload_info(name)
    if not info:
        return name
    where = "" if info.get("made") else "your upload, "  # a made one's name already says so
    return f"{info['filename']} ({where}{info['images']:,} images)"


@widget_callback
def _on_upload() -> None:
    """Take in the zip; a rejected one changes nothing but the message."""
    f = st.session_state.get("data_upload")
    if f is None:
        return
    try:
        path, info = ingest_upload(f.getvalue(), f.name)
    except UploadRejected as e:
        st.session_state["data_upload_msg"] = ("error", str(e))
        return
    update_setup(dataset=path)
    n_skip = len(info["skipped"])
    skipped = f"; {n_skip} file{'s' if n_skip != 1 else ''} skipped (listed under Provenance)" if n_skip else ""
    st.session_state["data_upload_msg"] = (
        "success", f"{f.name}: {info['images']:,} images in {len(info['classes'])} classes "
        f"({', '.join(info['classes'][:8])}{'…' if len(info['classes']) > 8 else ''}) is now the source{skipped}.")


def _domain_row(role: str, text: str, seed: int, needed: int | None):
    try:
        p = _preview(text, seed)
    except Exception as e:  # missing files or a bad link: say so, keep the page usable
        st.error(f"The {role} `{text}` cannot be shown: {e}", icon=":material/error:")
        return None
    st.markdown(f"##### {role.capitalize()}: {p.title}")
    left, right = st.columns([3, 4])
    left.plotly_chart(plots.image_grid(p.montage.image, p.montage.rows, p.montage.cell, GAP),
                      key=f"data_grid_{role}", config={"displayModeBar": False})
    c, h, w = p.shape
    right.plotly_chart(plots.class_counts(p.class_names, p.counts, needed,
                                          all_labels=get_setup().labels_per_class is None),
                       key=f"data_counts_{role}")
    right.caption(f"{sum(p.counts):,} images, {len(p.counts)} classes, {w}×{h} px, "
                  f"{'RGB' if c == 3 else 'greyscale'}. Samples are drawn with seed {seed}; shifts are "
                  "applied to them as a run applies them to the whole set.")
    with right.expander("Provenance: files, checksums, licence"):
        pv = p.provenance
        st.markdown(f"**Source** {pv.source}  \n**Licence** {pv.licence}"
                    + (f"  \n**URL** {pv.url}" if pv.url else "") + (f"  \n{pv.notes}" if pv.notes else ""))
        st.dataframe([{"file": Path(f).name, "sha256": s, "folder": str(Path(f).parent)} for f, s in pv.files],
                     hide_index=True)
        if p.skipped:
            st.markdown(f"**{len(p.skipped)} files skipped**")
            st.dataframe([{"file": f, "why": r} for f, r in p.skipped], hide_index=True)
    return p


st.title("Data")
show_notices()
show_errors()
st.markdown("Pick what the model trains on (the **source**) and, optionally, a **target** domain it "
            "is tested on as well: the same classes with a different look, such as rotated or "
            "coloured digits. Transfer is easy when the two look alike and hard when they do not.")
cfg = get_setup()
avail = list_datasets(available_only=True)
options = dataset_options(cfg)
missing = [s for s in DATASETS if s.name not in avail]

src_col, tgt_col = st.columns(2)
with src_col.container(border=True):
    st.markdown("**Source**: labelled images the model trains on")
    domain_picker("data_src", "dataset", cfg.dataset, options, _label)
    for s in missing:
        st.caption(f":material/block: {s.title} is not available here: {s.check().reason}")
with tgt_col.container(border=True):
    bind("data_tgt_on", cfg.target is not None)
    st.toggle("Also test on a target domain", key="data_tgt_on", on_change=setter(
        "data_tgt_on", lambda on: {"target": parse_domain(get_setup().dataset).dataset if on else None}))
    if cfg.target is not None:
        domain_picker("data_tgt", "target", cfg.target, options, _label)
        if cfg.target == cfg.dataset:
            st.info("The target is the source itself: add a shift or pick another dataset.",
                    icon=":material/info:")
    else:
        st.caption("Off: runs are scored on held-out source images only.")

st.subheader("Label budget")
try:
    pv = _preview(cfg.dataset, cfg.seed)
except Exception:
    pv = None
if pv is not None:
    b = label_budget(pv.counts, pv.class_names, cfg.labels_per_class, cfg.val_per_class, cfg.test_per_class)
    opts = sorted({x for x in BUDGETS if x <= b.max_labels} | ({b.max_labels} if b.max_labels >= 1 else set())
                  | ({cfg.labels_per_class} if cfg.labels_per_class else set())) + ["all"]
    bind("data_budget", cfg.labels_per_class or "all")
    st.select_slider("Labelled training images per class", opts, key="data_budget", on_change=setter(
        "data_budget", lambda v: {"labels_per_class": None if v == "all" else int(v)}),
        help="Transfer learning shines with few labels. 'all' uses every image left after the "
             "validation and test images are held out.")
    if b.fits:
        st.caption(f"At most **{b.max_labels:,}** labels per class fit: the smallest class has "
                   f"{min(pv.counts):,} images, minus {cfg.val_per_class} validation and "
                   f"{cfg.test_per_class} test images per class. This budget trains on "
                   f"{b.train_images:,} images in all.")
    else:
        st.warning(b.message[0].upper() + b.message[1:] + ".", icon=":material/warning:")
        if b.max_labels >= 1:
            st.button(f"Use {b.max_labels:,} labels per class", key="data_fit_budget",
                      on_click=update_setup, kwargs={"labels_per_class": b.max_labels})
with st.expander("Validation and test images per class"):
    c1, c2 = st.columns(2)
    bind("data_val", cfg.val_per_class)
    c1.number_input("Validation per class", 1, 1000, key="data_val",
                    on_change=setter("data_val", lambda v: {"val_per_class": int(v)}))
    bind("data_test", cfg.test_per_class)
    c2.number_input("Test per class", 1, 5000, key="data_test",
                    on_change=setter("data_test", lambda v: {"test_per_class": int(v)}))

st.subheader("What a run will see")
needed = cfg.val_per_class + cfg.test_per_class + (cfg.labels_per_class or 0)
src = _domain_row("source", cfg.dataset, cfg.seed, needed)
if cfg.target:
    tgt = _domain_row("target", cfg.target, cfg.seed, cfg.test_per_class)
    if src and tgt:
        pair_check(cfg)  # the words the Train and Domain adaptation pages refuse with

st.subheader("Your own images")
st.file_uploader("A zip of class folders: `animals.zip` → `cat/1.jpg`, `cat/2.png`, `dog/1.jpg`, …",
                 type=["zip"], key="data_upload", on_change=_on_upload,
                 help="Images are centre-cropped to squares and resized to 32×32. Files that cannot be "
                      "read are skipped and listed. The zip is kept in your Transfer Lab data folder.")
kind, msg = st.session_state.get("data_upload_msg", (None, ""))
if kind == "error":
    st.error(f"Upload not used, nothing changed: {md_escape(msg)}.", icon=":material/error:")
elif kind == "success":
    st.success(md_escape(msg), icon=":material/check_circle:")

st.subheader("Make your own dataset")
dataset_maker()
