"""The Data page's "Make your own dataset" section: name classes, add images by webcam,
drawing or files, see and delete samples, then make it a dataset every page can pick.

Widgets only; every change is an engine call (``tlcore.data.made``) that is on disk before
the page reruns, so a reload loses nothing. Session state holds only which draft is open,
which class images go to, widget revisions (a new key empties a camera, canvas or
uploader after its images were saved) and the last message of each area.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from tlcore.data import made
from tlcore.preview import label_budget
from ui.downloads import prepared_download
from ui.state import md_escape, update_setup, widget_callback

K = "dm_"  # widget-key prefix of this section
SHOWN = 10  # newest thumbnails per class, one row (the rest are counted, and are in the zip)
SHOWN_ALL = 200  # with "Show all"
METHODS = ("Files", "Camera", "Drawing")


def _say(area: str, kind: str, text: str) -> None:
    st.session_state[f"{K}msg_{area}"] = (kind, text)


def _show(area: str) -> None:
    kind, text = st.session_state.pop(f"{K}msg_{area}", (None, ""))
    if kind:
        icon = {"error": ":material/error:", "warning": ":material/warning:",
                "success": ":material/check_circle:"}[kind]
        getattr(st, kind)(text, icon=icon)


def _guard(area: str, call: Callable[[], object]) -> object | None:
    """Run an engine change; a refusal becomes the area's message and changes nothing."""
    try:
        return call()
    except made.DraftError as e:
        _say(area, "error", f"Not done: {md_escape(str(e))}.")
        return None


def _bump(name: str) -> None:
    st.session_state[f"{K}{name}_rev"] = st.session_state.get(f"{K}{name}_rev", 0) + 1


def _rev(name: str) -> int:
    return st.session_state.setdefault(f"{K}{name}_rev", 0)


def _open(draft_id: str) -> None:
    st.session_state[f"{K}draft"] = draft_id


def _current(drafts: list[made.Draft]) -> made.Draft | None:
    """The open draft, else the most recently changed one (so a reload reopens it)."""
    want = st.session_state.get(f"{K}draft")
    for d in drafts:
        if d.id == want:
            return d
    return drafts[0] if drafts else None


def _on_create() -> None:
    name = st.session_state.get(f"{K}new_name", "")
    if (d := _guard("draft", lambda: made.create_draft(name))) is not None:
        _open(d.id)
        st.session_state[f"{K}new_name"] = ""


def _draft_bar(draft: made.Draft | None, drafts: list[made.Draft]) -> None:
    cols = st.columns([3, 2, 2, 2], vertical_alignment="bottom")
    if draft is not None:
        ids = [d.id for d in drafts]
        by_id = {d.id: d for d in drafts}
        st.session_state[f"{K}pick"] = draft.id
        cols[0].selectbox("Dataset being made", ids, key=f"{K}pick",
                          format_func=lambda i: f"{by_id[i].name} ({by_id[i].images} images, "
                                                f"{len(by_id[i].classes)} classes)",
                          on_change=widget_callback(lambda: _open(st.session_state[f"{K}pick"])))
    with cols[1].popover("New dataset", icon=":material/add:", width="stretch"):
        st.text_input("Name", key=f"{K}new_name", placeholder="e.g. Hand signs")
        st.button("Create", key=f"{K}create", on_click=_on_create, type="primary")
    if draft is None:
        return
    with cols[2].popover("Rename", icon=":material/edit:", width="stretch"):
        st.text_input("New name", value=draft.name, key=f"{K}rename_{draft.id}")
        st.button("Rename", key=f"{K}rename_go", on_click=_on_rename, args=(draft.id,))
    with cols[3].popover("Delete", icon=":material/delete:", width="stretch"):
        st.markdown(f"Delete **{md_escape(draft.name)}** and its {draft.images} images? Datasets "
                    "already made from it stay.")
        st.button("Delete it", key=f"{K}delete_draft", on_click=_on_delete, args=(draft,))


def _on_rename(draft_id: str) -> None:
    _guard("draft", lambda: made.rename_draft(draft_id, st.session_state[f"{K}rename_{draft_id}"]))


def _on_delete(draft: made.Draft) -> None:
    made.delete_draft(draft.id)
    _say("draft", "success", f"Deleted **{md_escape(draft.name)}** ({draft.images} images).")


def _on_add_class(draft_id: str) -> None:
    name = st.session_state.get(f"{K}class_name", "")
    if (d := _guard("class", lambda: made.add_class(draft_id, name))) is not None:
        st.session_state[f"{K}class_name"] = ""
        st.session_state[f"{K}target_class"] = d.classes[-1].id


def _class_form(draft: made.Draft) -> None:
    with st.form(f"{K}class_form", clear_on_submit=False, border=False):
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        c1.text_input("New class", key=f"{K}class_name", placeholder="e.g. thumbs up",
                      max_chars=made.MAX_NAME)
        c2.form_submit_button("Add class", on_click=_on_add_class, args=(draft.id,),
                              icon=":material/add:", width="stretch")
    _show("class")


def _save(draft_id: str, class_id: str, files: list[tuple[str, bytes]], source: str) -> None:
    res = _guard("add", lambda: made.add_samples(draft_id, class_id, files, source))
    if res is None:
        return
    d, added, skipped = res
    name = md_escape(d.cls(class_id).name)
    head = f"Added {len(added)} image{'s' if len(added) != 1 else ''} to **{name}**"
    if not skipped:
        _say("add", "success", head + ".")
        return
    why = "; ".join(f"{md_escape(f)}: {md_escape(r)}" for f, r in skipped[:5])
    more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
    _say("add", "warning" if added else "error",
         f"{head}; {len(skipped)} not used: {why}{more}.")


def _on_files(draft_id: str, class_id: str, key: str) -> None:
    files = st.session_state.get(key) or []
    if files:
        _save(draft_id, class_id, [(f.name, f.getvalue()) for f in files], "upload")
        _bump("files")


def _on_photo(draft_id: str, class_id: str, key: str) -> None:
    photo = st.session_state.get(key)
    if photo is not None:
        _save(draft_id, class_id, [("photo", photo.getvalue())], "camera")
        _bump("camera")


def _drawing(draft: made.Draft, class_id: str) -> None:
    try:  # a components-v2 widget: it registers itself only inside a running server
        from streamlit_drawable_canvas import st_canvas
    except Exception as e:  # noqa: BLE001 say why, and the other two ways still work
        st.warning(f"The drawing canvas cannot be shown here ({type(e).__name__}: {e}). Use files "
                   "or the camera.", icon=":material/warning:")
        return
    st.caption("Draw one example, then add it; the canvas empties for the next one.")
    res = st_canvas(stroke_width=20, stroke_color="#000000", background_color="#ffffff",
                    height=256, width=256, drawing_mode="freedraw", return_image_data=True,
                    key=f"{K}canvas_{_rev('canvas')}")
    if st.button("Add this drawing", key=f"{K}add_drawing", icon=":material/add_photo_alternate:"):
        data = res.image_bytes
        if not data:
            _say("add", "error", "Not done: the drawing is empty: draw something first.")
        else:
            _save(draft.id, class_id, [("drawing", data)], "drawing")
            _bump("canvas")
        st.rerun()


@widget_callback
def _pick_class() -> None:
    st.session_state[f"{K}target_class"] = st.session_state[f"{K}target_w"]


def _add_panel(draft: made.Draft) -> None:
    st.markdown("**Add images**")
    if not draft.classes:
        st.info("Add a class first: images go into a class.", icon=":material/info:")
        return
    ids = [c.id for c in draft.classes]
    if st.session_state.get(f"{K}target_class") not in ids:
        st.session_state[f"{K}target_class"] = ids[0]
    cid = st.session_state[f"{K}target_class"]
    # bound, not owned, by the widget: a rename or a new class must not reset the choice
    st.session_state[f"{K}target_w"] = cid
    names = {c.id: c.name for c in draft.classes}
    st.selectbox("to class", ids, key=f"{K}target_w", format_func=names.get, on_change=_pick_class)
    how = st.radio("by", METHODS, key=f"{K}method", horizontal=True,
                   help="The camera asks your browser for permission the first time.")
    _show("add")
    if how == "Files":
        key = f"{K}files_{_rev('files')}"
        st.file_uploader("Images (pick many at once)", type=sorted(made.IMAGE_TYPES),
                         accept_multiple_files=True, key=key,
                         on_change=_on_files, args=(draft.id, cid, key))
    elif how == "Camera":
        key = f"{K}camera_{_rev('camera')}"
        st.camera_input("Take a photo: it is added at once", key=key,
                        on_change=_on_photo, args=(draft.id, cid, key))
    else:
        _drawing(draft, cid)


def _thumbs(draft: made.Draft, c: made.MadeClass) -> None:
    """The newest samples, each with a delete button. Few by default: Streamlit spends a
    few ms per image on every rerun; the toggle shows up to ``SHOWN_ALL``."""
    if not c.samples:
        st.caption("No images yet.")
        return
    many = c.count > SHOWN and st.toggle(f"Show all {c.count}", key=f"{K}all_{c.id}")
    limit = SHOWN_ALL if many else SHOWN
    cols = st.columns(SHOWN)
    for i, s in enumerate(list(reversed(c.samples))[:limit]):
        with cols[i % SHOWN]:
            st.image(made.thumbnail(str(draft.sample_path(c.id, s))), width=made.THUMB_SIDE,
                     output_format="PNG")  # "auto" would re-encode every PNG as JPEG
            st.button("", key=f"{K}del_{c.id}_{s}", icon=":material/close:",
                      help="Delete this sample", on_click=lambda s=s: _guard(
                          "class", lambda: made.delete_sample(draft.id, c.id, s)))
    if c.count > limit:
        st.caption(f"The newest {limit} of {c.count} are shown; all are in the dataset.")


def _on_class_rename(draft_id: str, class_id: str) -> None:
    new = st.session_state[f"{K}cname_{class_id}"]
    _guard("class", lambda: made.rename_class(draft_id, class_id, new))


def _class_card(draft: made.Draft, c: made.MadeClass) -> None:
    need = made.MIN_PER_CLASS - c.count
    status = ":green[:material/check_circle:]" if need <= 0 else f":orange[needs {need} more]"
    with st.container(border=True):
        head, ren, rem = st.columns([6, 1, 1], vertical_alignment="center")
        head.markdown(f"**{md_escape(c.name)}** · {c.count} image{'s' if c.count != 1 else ''} "
                      f"{status}" + (f" · folder `{c.folder}`" if c.folder != c.name else ""))
        with ren.popover("", icon=":material/edit:", help="Rename this class"):
            st.text_input("New name", value=c.name, key=f"{K}cname_{c.id}")
            st.button("Rename", key=f"{K}cren_{c.id}", on_click=_on_class_rename,
                      args=(draft.id, c.id))
        with rem.popover("", icon=":material/delete:", help="Remove this class"):
            st.markdown(f"Remove **{md_escape(c.name)}** and its {c.count} images?")
            st.button("Remove", key=f"{K}crem_{c.id}", on_click=lambda: _guard(
                "class", lambda: made.remove_class(draft.id, c.id)))
        _thumbs(draft, c)


def _on_build(draft_id: str) -> None:
    res = _guard("build", lambda: made.build(draft_id))
    if res is None:
        return
    path, info = res
    cfg = update_setup(dataset=path)
    counts = info["counts"]
    note = ""
    b = label_budget(counts, info["classes"], cfg.labels_per_class, cfg.val_per_class,
                     cfg.test_per_class)
    if not b.fits:
        labels, val, test = made.fitting_split(min(counts))
        update_setup(labels_per_class=labels, val_per_class=val, test_per_class=test)
        note = (f" The split now fits it: {labels} labelled, {val} validation and {test} test "
                "images per class (change it under Label budget).")
    per = ", ".join(f"{md_escape(n)} {k}" for n, k in zip(info["classes"], counts, strict=True))
    _say("build", "success", f"**{md_escape(info['filename'])}** is a dataset and now the source: "
                             f"{info['images']} images ({per}). Every page can pick it as source "
                             f"or target.{note}")


def _finish(draft: made.Draft) -> None:
    problems = draft.problems()
    if problems:
        st.warning("Not a dataset yet. " + " ".join(md_escape(p) for p in problems),
                   icon=":material/warning:")
    c1, c2 = st.columns(2)
    c1.button("Make it a dataset", key=f"{K}build", type="primary", disabled=bool(problems),
              on_click=_on_build, args=(draft.id,), icon=":material/dataset:",
              help="Turns these images into a dataset, like an uploaded zip, and makes it the "
                   "source.")
    if not problems:
        prepared_download(c2, "Download as zip of class folders",
                          lambda: made.export_zip(made.load_draft(draft.id)), made.zip_filename(draft),
                          "application/zip", key=f"{K}export", version=draft.updated,
                          prepare="Prepare a zip of class folders")
    _show("build")
    if draft.builds:
        last = draft.builds[-1]
        st.caption(f"Last made into a dataset {last['date'].replace('T', ' ').rstrip('Z')} UTC "
                   f"({last['images']} images, sha256 `{last['sha256'][:12]}…`)"
                   + ("." if last["date"] >= draft.updated else
                      "; images changed since: make it a dataset again to use them."))


def dataset_maker() -> None:
    """Draw the whole section (one call from the Data page)."""
    st.caption(f"Teachable-Machine style: name two or more classes and give each at least "
               f"{made.MIN_PER_CLASS} images from your camera, a drawing or files. Every image is "
               "saved as you add it, so a reload loses nothing.")
    drafts = made.list_drafts()
    draft = _current(drafts)
    _draft_bar(draft, drafts)
    _show("draft")
    if draft is None:
        st.info("Start with **New dataset**.", icon=":material/info:")
        return
    _class_form(draft)
    left, right = st.columns([2, 3])
    with left:
        _add_panel(draft)
    with right:
        for c in draft.classes:
            _class_card(draft, c)
    _finish(draft)
