"""The Try it page's pieces: which runs answer, the three ways in for an image, and one
run's answer (top-3 bars, the input as the model sees it, the Grad-CAM heat map).

Models are cached by role (``st.cache_resource``, keyed by store root, run id and the model
file's sha256: a re-run writes a new file, hence a new key) and only ever predict; answers
are cached per (model, input bytes), so a plain rerun recomputes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import streamlit as st

from tlcore.compare import CLASSIC, classic_comparison, describe_run
from tlcore.config import RunConfig
from tlcore.names import domain_label
from tlcore.runs import RunRecord, Store
from tlcore.strategies import title as strategy_title
from tlcore.workspaces import NotAllowed
from ui.downloads import prepared_download
from ui.state import md_escape
from ui.store import get_store, submit

MAX_RUNS = 4
SOURCES = {"draw": "Draw", "upload": "Upload", "camera": "Camera"}
INKS = {"white": ("#ffffff", "#000000", "white on black"), "black": ("#000000", "#ffffff", "black on white")}
OLD_RUN = ("This run was stored before runs kept their models, so it cannot answer. "
           "Re-run it to get one.")
SHOWN_PX = 168  # the small model inputs (32 px) are blown up to about this, pixel by pixel


# -- which runs ---------------------------------------------------------------------------
def model_sha(rec: RunRecord) -> str | None:
    """The stored model file's sha256 (None: the run kept no model)."""
    return (rec.provenance.get("model") or {}).get("sha256")


def default_runs(recs: Sequence[RunRecord], base: RunConfig) -> list[str]:
    """What answers first: the current setup's classic comparison when it is done, else the
    newest classic comparison whose three runs all kept models, else the newest three done
    runs with a model (else the newest three done runs, which will say to re-run).
    ``recs`` oldest first, as ``Store.list`` gives them."""
    done = {r.id: r for r in recs if r.status == "done"}
    trio = [c.run_id() for c in classic_comparison(base)]
    if all(i in done for i in trio):
        return trio
    newest = [r for r in reversed(recs) if r.id in done]
    for r in newest:
        if r.config.strategy in CLASSIC:
            trio = [c.run_id() for c in classic_comparison(r.config)]
            if all(i in done and model_sha(done[i]) for i in trio):
                return trio
    with_model = [r.id for r in newest if model_sha(r)]
    return (with_model or [r.id for r in newest])[:3]


def pick_runs(runs: Sequence[RunRecord], default: list[str]) -> list[str]:
    """The multiselect of up to four runs; returns the chosen ids (newest runs listed first)."""
    by_id = {r.id: r for r in runs}
    return st.multiselect(
        "Models that answer", list(by_id), default=[i for i in default if i in by_id][:MAX_RUNS],
        max_selections=MAX_RUNS, format_func=lambda i: describe_run(by_id[i]), key="try_runs_pick",
        placeholder="Pick up to four trained runs",
        help="Each model answers the same image. Pick a scratch, a feature-extraction and a "
             "fine-tuned run to see what pretraining changes.")


# -- the input ----------------------------------------------------------------------------
def pick_source(start: str) -> str:
    return st.segmented_control("Input", list(SOURCES), default=start, format_func=SOURCES.get,
                                key="try_input_pick", required=True) or start


def drawing() -> tuple[bytes | None, str]:
    """A 280 px canvas; returns its PNG once something is drawn (sent when a stroke ends)."""
    from streamlit_drawable_canvas import st_canvas  # registers its component: only in a script run

    ink = st.radio("Ink", list(INKS), format_func=lambda k: INKS[k][2], horizontal=True, key="try_ink",
                   help="Either works: the models were trained on one polarity and the input is "
                        "inverted when it needs to be (the notes beside the canvas say so).")
    st.session_state.setdefault("try_canvas_n", 0)
    if st.button("Clear", icon=":material/ink_eraser:", key="try_clear"):
        st.session_state["try_canvas_n"] += 1  # a new key is a fresh, empty canvas
    stroke, background, _ = INKS[ink]
    res = st_canvas(stroke_width=20, stroke_color=stroke, background_color=background, height=280, width=280,
                    drawing_mode="freedraw", update_streamlit=True, return_image_data=True,
                    key=f"try_canvas_{ink}_{st.session_state['try_canvas_n']}")
    if not (res.json_data or {}).get("objects"):
        return None, ""
    return res.image_bytes, "drawing.png"


def uploaded() -> tuple[bytes | None, str]:
    f = st.file_uploader("An image (PNG, JPEG, GIF, BMP, WebP, TIFF or PPM)", key="try_upload",
                         type=["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff", "ppm"])
    return (f.getvalue(), f.name) if f is not None else (None, "")


def photo() -> tuple[bytes | None, str]:
    f = st.camera_input("Hold a digit (or whatever the models know) up to the camera", key="try_camera")
    return (f.getvalue(), "camera.jpg") if f is not None else (None, "")


READERS: dict[str, Callable[[], tuple[bytes | None, str]]] = {"draw": drawing, "upload": uploaded,
                                                              "camera": photo}


# -- one run's answer ---------------------------------------------------------------------
@st.cache_resource(max_entries=16, show_spinner=False)
def _model(root: str, rid: str, sha256: str):
    """The rebuilt network (read-only, shared by all sessions) and a lock: Grad-CAM hooks
    the network, so two sessions must not run it at the same time."""
    from tlcore.trained import load_trained

    model = load_trained(Store(root), rid)
    if model.model_file["sha256"] != sha256:
        raise ValueError(f"run {rid}'s model file changed while loading; reload the page")
    return model, threading.Lock()


@st.cache_data(max_entries=128, show_spinner=False)
def answer(root: str, rid: str, sha256: str, data: bytes, name: str) -> dict:
    """Top-3 classes, the input as the model sees it, the heat map over it and the notes
    on what was done to the image. Raises ``tlcore.predict.BadImage`` for a bad file."""
    from tlcore.cam import heatmap, overlay
    from tlcore.predict import predict, prepare, read_image

    model, lock = _model(root, rid, sha256)
    image = read_image(data, name)
    with lock:
        prepared = prepare(model, image)
        top = predict(model, prepared, top=3)
        try:
            heat, why = heatmap(model, prepared), ""  # for the predicted class, top[0]
        except ValueError as e:  # e.g. no layer keeps a spatial map at this input size
            heat, why = None, str(e)
    return {"top": [(str(n), float(p)) for n, p in top], "seen": prepared.seen,
            "overlay": None if heat is None else overlay(prepared.seen, heat),
            "cold": heat is not None and float(heat.max()) <= 0, "no_heat": why,
            "notes": tuple(prepared.notes), "fitted_png": _png(prepared.images[0])}


def _png(image) -> bytes:
    """uint8 ``[C, H, W]`` as PNG bytes: the fitted picture, at the training images' size."""
    import io

    from PIL import Image

    a = image.numpy().transpose(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(a[..., 0] if a.shape[2] == 1 else a).save(buf, format="PNG")
    return buf.getvalue()


def blown_up(img: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` enlarged by whole pixels, so a 32 px input stays crisp on screen."""
    k = max(1, SHOWN_PX // max(img.shape[:2]))
    return np.repeat(np.repeat(img, k, axis=0), k, axis=1)


def title(rec: RunRecord) -> None:
    st.markdown(f"**{strategy_title(rec.config.strategy)}**")
    acc = rec.metrics.get("test_accuracy")
    st.caption(md_escape(f"{rec.config.backbone} · {domain_label(rec.config.dataset)} · seed {rec.config.seed}"
                         + (f" · {acc:.1%} on its test images" if acc is not None else "")
                         + f" · {rec.id[:6]}"))


def show_answer(rec: RunRecord, ans: dict, common_notes: Sequence[str]) -> None:
    """One column: the run, its three best classes as bars, what it saw, where it looked."""
    title(rec)
    for name, p in ans["top"]:
        st.progress(min(1.0, max(0.0, p)), text=f"{md_escape(name)}: {p:.1%}")
    c1, c2 = st.columns(2)
    c1.image(blown_up(ans["seen"]), caption="what it sees")
    if ans["overlay"] is None:
        c2.caption(md_escape(f"No heat map: {ans['no_heat']}."))
    else:
        c2.image(blown_up(ans["overlay"]), caption=f"where it looked for “{ans['top'][0][0]}”")
    if ans["cold"]:
        st.caption("No region raised this class's score, so the heat map is empty (all blue).")
    for note in ans["notes"]:
        if note not in common_notes:
            st.caption(md_escape(note))
    downloads(rec)
    st.download_button("The picture as fitted (PNG)", ans["fitted_png"], f"fitted-{rec.id[:6]}.png",
                       "image/png", icon=":material/image:", key=f"try_dl_png_{rec.id}", on_click="ignore",
                       help="The drawing or photo after it was fitted to this run's training images. "
                            "An exported model given this file (with its card's preprocessing) answers "
                            "exactly as here.")


@st.cache_data(max_entries=16, show_spinner=False)
def _export(root: str, rid: str, sha256: str, fmt: str) -> bytes:
    """The zip ``tlcore.export.export_zip`` makes (a pure function of store, run and format;
    the sha256 in the key drops it when a re-run replaces the model)."""
    from tlcore.export import export_zip

    return export_zip(root, rid, fmt)[1]


def downloads(rec: RunRecord) -> None:
    """ONNX and TorchScript zips, built only when clicked."""
    root, sha = str(get_store().root), model_sha(rec)
    c1, c2 = st.columns(2)
    for col, fmt, label in ((c1, "onnx", "ONNX"), (c2, "torchscript", "TorchScript")):
        prepared_download(col, label, lambda fmt=fmt: _export(root, rec.id, sha, fmt),
                          f"transfer-lab-{rec.id}-{fmt}.zip", "application/zip", key=f"try_dl_{fmt}_{rec.id}",
                          version=sha, help=f"This run's network as {label}, zipped with a model card "
                                            "(classes, preprocessing, provenance).")


def no_model(rec: RunRecord, why: str) -> None:
    """A run without a model file: say so and offer to train it again."""
    title(rec)
    st.warning(why, icon=":material/history:")
    if st.button("Re-run it", icon=":material/replay:", key=f"try_rerun_{rec.id}",
                 help="Trains the same config again (same data, seed and budget); this time the "
                      "model is kept."):
        try:
            submit([rec.config], rerun=True)
        except NotAllowed as e:
            st.error(str(e), icon=":material/block:")
            return
        st.rerun()
