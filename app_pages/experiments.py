"""Experiments a teacher can run live: the label-budget sweep, the Yosinski lab, and a
sweep over the settings of the current setup."""

from __future__ import annotations

import streamlit as st

from tlcore import experiments as ex
from tlcore import plots
from tlcore.compare import CLASSIC
from tlcore.names import domain_label
from tlcore.strategies import title
from ui.grid_view import run_grid
from ui.state import get_setup, keep_list_in_url, show_notices, url_list
from ui.sweep_view import sweep_tab

ARM_COLORS = {"AnB": plots.PALETTE[3], "AnB+": plots.PALETTE[1], "BnB": plots.PALETTE[0], "BnB+": plots.PALETTE[2]}

st.title("Experiments")
show_notices()
budget_tab, yos_tab, sweep_t = st.tabs(["Label budget", "Yosinski lab", "Sweep"])


def draw_budget(recs, finished: bool) -> None:
    try:
        summary = ex.budget_summary(recs)
    except ValueError as e:
        st.error(str(e), icon=":material/error:")
        return
    if not summary:
        st.caption("The chart appears as soon as the first runs finish.")
        return
    series = [{"label": title(s), "x": c["k"], "mean": c["mean"], "lo": c["lo"], "hi": c["hi"],
               "n": max(c["n_seeds"])} for s, c in summary.items()]
    verdict = ex.budget_verdict(summary) if finished else None
    st.plotly_chart(plots.budget(series, verdict.marker if verdict else None), key="exp_budget_chart",
                    config=plots.CHART_CONFIG)
    if verdict:
        st.markdown(f"**{verdict.headline}:** {verdict.text}")


with budget_tab:
    st.markdown("How many labels does each strategy need? The same backbone and data at budgets of k "
                "labelled images per class, several seeds each. Expect frozen features to lead when "
                "labels are few and fine-tuning to overtake them as k grows; see where, if at all, that "
                "happens here.")
    cfg = get_setup()
    c1, c2, c3 = st.columns(3)
    all_ks = [1, 2, 5, 10, 25, 50, 100, 200, 500]
    ks = c1.multiselect("Budgets k", all_ks, default=url_list("exp_ks", all_ks, [1, 5, 10, 25, 50]),
                        key="exp_ks")
    strategies = c2.multiselect("Strategies", list(CLASSIC), format_func=title, key="exp_strats",
                                default=url_list("exp_strats", list(CLASSIC), list(CLASSIC)))
    seeds = c3.multiselect("Seeds", list(range(5)), default=url_list("exp_seeds", list(range(5)), [0, 1, 2]),
                           key="exp_seeds")
    for param, values in (("exp_ks", ks), ("exp_strats", strategies), ("exp_seeds", seeds)):
        keep_list_in_url(param, values)
    st.caption(f"Backbone `{cfg.backbone}` on `{domain_label(cfg.dataset)}`, {cfg.epochs} epochs, batch {cfg.batch_size}, "
               "head LR " f"{cfg.lr:g} (set these on the Data, Model and Train pages).")
    configs, note = [], ""
    if ks and strategies and seeds:
        try:
            fit, too_big, cap = ex.fit_ks(cfg, ks)
            if too_big:
                note = f"{domain_label(cfg.dataset)} allows at most {cap} labels per class: k = {too_big} left out."
            configs = ex.budget_configs(cfg, fit, strategies, seeds)
        except (ValueError, KeyError, OSError) as e:
            st.error(f"Cannot set up the sweep: {e}", icon=":material/error:")
    if note:
        st.info(note, icon=":material/info:")
    run_grid(f"Run the sweep ({len(configs)} runs)", configs, "exp_budget", draw_budget)


def draw_yosinski(recs, finished: bool) -> None:
    summary = ex.yosinski_summary(recs)
    if not summary["arms"]:
        st.caption("The chart appears as soon as the first runs finish.")
        return
    series = [{"label": arm, "x": c["depth"], "mean": c["mean"], "lo": c["lo"], "hi": c["hi"],
               "n": max(c["n_seeds"]), "color": ARM_COLORS[arm]} for arm, c in summary["arms"].items()]
    p = ex.YOSINSKI_PAPER
    pts = {q["arm"]: q for q in p["points"]}
    paper = [{"label": "paper: base B (ImageNet)", "x": [0.0], "y": [pts["base"]["top1"]]},
             {"label": "paper: AnB at n=7 of 7", "x": [1.0], "y": [pts["AnB"]["top1"]], "color": ARM_COLORS["AnB"]},
             {"label": "paper: AnB+ (about, every n)", "x": [0.0, 1.0], "y": [pts["AnB+"]["top1"]] * 2,
              "color": ARM_COLORS["AnB+"]}]
    st.plotly_chart(plots.yosinski(series, paper), key="exp_yos_chart", config=plots.CHART_CONFIG)
    if finished and (text := ex.yosinski_verdict(summary)):
        st.markdown(f"**{text}**")
    st.caption(f"Hollow markers: {ex.paper_text()}. {p['setting']}")


with yos_tab:
    st.markdown(
        "Yosinski et al. (2014) asked which layers are general and which are specific. Train a network on "
        "task A (five clothing classes), copy its first n layer groups into a network for task B (the other "
        "five), re-initialise the rest, and train on B with the copied groups **frozen** (AnB) or "
        "**fine-tuned** (AnB+). BnB and BnB+ copy from a network trained on B itself: the control.")
    base = ex.YOSINSKI_BASE
    c1, c2, c3 = st.columns(3)
    yseeds = c1.multiselect("Seeds", list(range(5)), default=url_list("exp_yos_seeds", list(range(5)), [0]),
                            key="exp_yos_seeds")
    label_opts = sorted({20, 50, base.labels_per_class})
    labels = c2.select_slider("Labels per class", label_opts, key="exp_yos_labels",
                              value=url_list("exp_yos_labels", label_opts, [base.labels_per_class])[0],
                              help="Fewer is faster, but the fresh network (the base) then learns little, and "
                                   "any copied layers win for that reason alone.")
    epoch_opts = sorted({1, 2, base.epochs, 10})
    epochs = c3.select_slider("Epochs", epoch_opts, key="exp_yos_epochs",
                              value=url_list("exp_yos_epochs", epoch_opts, [base.epochs])[0])
    for param, values in (("exp_yos_seeds", yseeds), ("exp_yos_labels", [labels]), ("exp_yos_epochs", [epochs])):
        keep_list_in_url(param, values)
    st.caption(f"Target `{ex.YOSINSKI_TARGET}`, batch {base.batch_size}, Adam {base.lr:g}; n = 0 to "
               f"{len(ex.body_groups())} of the lab network's groups (stem, block1, block2, block3); "
               f"n = 0 is a fresh network trained on B (the paper's base B).")
    if labels < base.labels_per_class:
        st.info(f"With {labels} labels per class the base network is weak, so copied layers look better than "
                f"they are; {base.labels_per_class} is the setting worth quoting.", icon=":material/info:")
    yconfigs = (ex.yosinski_configs(seeds=yseeds, epochs=epochs, labels_per_class=labels, base=base)
                if yseeds else [])
    if not run_grid(f"Run the grid ({len(yconfigs)} runs)", yconfigs, "exp_yos", draw_yosinski):
        st.caption("Not run yet: about 17 short runs per seed (a few minutes on 2 cores).")

with sweep_t:
    sweep_tab()
