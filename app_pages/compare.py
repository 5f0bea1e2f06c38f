"""Compare: overlay any stored runs, seeds grouped into a mean and a band, and export.

The selection lives in the URL (``runs=id1,id2``), so a copied link reopens the same
comparison; unknown ids in a link are dropped with a notice.
"""

from __future__ import annotations

import streamlit as st

from tlcore import cka, plots
from tlcore.compare import (
    describe_run,
    final_table,
    group_by_seed,
    group_label,
    group_winner_sentence,
    parse_run_ids,
    varying_fields,
)
from ui import errors_view
from ui.downloads import prepared_download
from ui.state import show_notices
from ui.store import get_store
from ui.workspace import empty_scope_hint, link_ids, picker_runs

METRICS = ["val_acc", "target_acc", "train_acc", "train_loss", "val_loss", "target_loss", "domain_acc"]
SEL = "compare_selected"  # the selection, kept across page switches (widget state is not)

st.title("Compare runs")
show_notices()
store = get_store()
runs = picker_runs("compare", keep=[*link_ids("runs"), *st.session_state.get(SEL, [])])  # newest first
by_id = {r.id: r for r in runs}
if not runs:
    st.info("No runs stored yet. Queue some on the Train page, or run the classic comparison on Home.",
            icon=":material/info:")
    empty_scope_hint()
    st.stop()

if SEL not in st.session_state:
    ids, bad = parse_run_ids(st.query_params.get("runs"), list(by_id))
    if bad:
        st.warning(f"The link named {len(bad)} run(s) this store does not have; ignored: {', '.join(bad)}",
                   icon=":material/link_off:")
    st.session_state[SEL] = ids or [r.id for r in runs if r.status == "done"][:4]

chosen = st.multiselect(
    "Runs to compare", list(by_id), default=[i for i in st.session_state[SEL] if i in by_id],
    format_func=lambda i: describe_run(by_id[i]),
    key="compare_runs", placeholder="Pick runs from the history",
    help="Runs that differ only in their seed are averaged into one line with a band.")
st.session_state[SEL] = chosen
if st.query_params.get("runs", "") != ",".join(chosen):
    if chosen:
        st.query_params["runs"] = ",".join(chosen)
    elif "runs" in st.query_params:
        del st.query_params["runs"]
if not chosen:
    st.info("Pick one or more runs above to see their curves.", icon=":material/touch_app:")
    st.stop()

recs = [r for r in (store.get(i) for i in chosen) if r is not None]
groups = group_by_seed(recs)
vary = varying_fields([r.config for r in recs]) or ["strategy"]
if set(vary) - {"strategy"}:
    st.caption("These runs differ in: " + ", ".join(f"`{v}`" for v in vary) + ".")

available = [m for m in METRICS if any(h.get(m) is not None for r in recs for h in r.history)]
figs: dict = {}
if available:
    metric = st.selectbox("Curve", available, format_func=lambda m: plots.METRIC_TITLES.get(m, m),
                          key="compare_metric")

    def series(x: str) -> list[dict]:
        out = [{"label": group_label(g, vary), **g.curve(metric, x)} for g in groups]
        return [s for s in out if s["x"]]

    name = plots.METRIC_TITLES.get(metric, metric)
    figs["curves_by_epoch"] = plots.curves(series("epoch"), metric, "epoch")
    figs["curves_by_time"] = plots.curves(series("seconds"), metric, "seconds of training")
    for fig, per in ((figs["curves_by_epoch"], "per epoch"), (figs["curves_by_time"], "against time")):
        fig.update_layout(title_text=f"{name.capitalize()} {per}")
    c1, c2 = st.columns(2)
    c1.plotly_chart(figs["curves_by_epoch"], config=plots.CHART_CONFIG, key="compare_epoch")
    c2.plotly_chart(figs["curves_by_time"], config=plots.CHART_CONFIG, key="compare_time")
    if any(len(g.runs) > 1 for g in groups):
        st.caption("Lines are the mean over seeds; the shaded band spans the lowest to the highest seed.")
else:
    st.info("None of these runs has finished an epoch yet.", icon=":material/hourglass_empty:")

st.subheader("Final results")
pct = st.column_config.NumberColumn
rows = [{k: (v * 100 if k.endswith("accuracy") else f"{v:.1f}" if k.endswith("_std") else v)
         if v is not None else ("–" if k.endswith("_std") else None) for k, v in r.items()}
        for r in final_table(groups, vary)]  # shown as "93.5%": the column format takes percents
txt = st.column_config.TextColumn
st.dataframe(rows, hide_index=True, key="compare_table", column_config={
    "runs": txt("runs"), "n": pct("seeds", format="%d"),
    "test_accuracy": pct(("source " if any(r.config.target for r in recs) else "") + "test accuracy (mean)",
                         format="%.1f%%"),
    "test_accuracy_std": txt("± std (points)", help="Over seeds; – with one seed."),
    "target_accuracy": pct("target-domain accuracy (mean)", format="%.1f%%"),
    "target_accuracy_std": txt("± std (points) ", help="Over seeds; – with one seed."),
    "seconds": pct("seconds (mean)", format="%.1f")})
for m in ("test_accuracy", "target_accuracy"):
    if sentence := group_winner_sentence(groups, m):
        st.success(sentence, icon=":material/emoji_events:")

finished = {r.id: describe_run(r) for r in recs if r.status == "done"}
if finished:
    st.subheader("How far training moved each layer group")
    st.caption("Linear CKA between each group's features before and after training, on the run's test "
               "images: 1 means the group's features are still the pretrained ones up to a rotation and "
               "scale, lower means training moved them. Feature extraction gives 1 everywhere by "
               "construction (nothing below the head trains).")
    todo = cka.overview(store, finished).pending
    if todo and st.button(f"Compute for {len(todo)} run(s)", key="compare_cka",
                          icon=":material/straighten:", help="A few seconds a run; kept with the run."):
        with st.spinner("Feeding the test images through the pretrained and the trained networks…"):
            cka.overview(store, {i: finished[i] for i in todo}, compute=True)
        st.rerun()  # drawn from the cache now, without the button
    moved = cka.overview(store, finished)
    if moved.series:
        figs["distortion"] = plots.distortion(moved.series)
        st.plotly_chart(figs["distortion"], config=plots.CHART_CONFIG, key="compare_cka_chart")
    for note in moved.notes:
        st.caption(note)

done = [r for r in recs if r.status == "done" and "confusion" in r.metrics]
if done:
    st.subheader("Confusion matrix")
    pick = st.selectbox("Run", [r.id for r in done], format_func=lambda i: describe_run(by_id[i]),
                        key="compare_confusion_run")
    rec = next(r for r in done if r.id == pick)
    names = rec.metrics.get("class_names") or [str(i) for i in range(len(rec.metrics["confusion"]))]
    figs["confusion_source"] = plots.confusion(rec.metrics["confusion"], names,
                                               f"source test ({rec.metrics['test_accuracy']:.1%} right)")
    if "target_confusion" in rec.metrics:
        figs["confusion_target"] = plots.confusion(
            rec.metrics["target_confusion"], names, f"target test ({rec.metrics['target_accuracy']:.1%} right)")
    cols = st.columns(2)
    for col, name in zip(cols, ("confusion_source", "confusion_target"), strict=True):
        if name in figs:
            split = "test" if name == "confusion_source" else "target"
            errors_view.confusion_chart(col, figs[name], rec, split)  # clickable cells
        else:
            col.caption("This run has no target domain, so there is no target confusion matrix.")
    errors_view.why_it_errs(rec)  # the images behind a picked cell, the top losses

st.subheader("Export")
e1, e2, e3 = st.columns(3)
e1.download_button("Curves and results (CSV)", store.export_csv(chosen), "transfer-lab-runs.csv", "text/csv",
                   icon=":material/table:", key="compare_csv", on_click="ignore")
e2.download_button("Configs and results (JSON)", store.export_json(chosen), "transfer-lab-runs.json",
                   "application/json", icon=":material/data_object:", key="compare_json", on_click="ignore")
if figs and plots.png_export_available():
    prepared_download(e3, "Charts (PNG, zip)", lambda: plots.png_zip(figs), "transfer-lab-charts.zip",
                      "application/zip", key="compare_png", version=",".join(chosen),
                      help="Rendered on the server; takes a few seconds.")
if done:
    errors_view.model_download(st.columns(3)[0], rec)  # the confusion matrices' run
st.caption("To save one chart as PNG, use the camera button in its toolbar (top right of the chart). "
           "To share this comparison, copy the page address: it lists the selected runs.")
