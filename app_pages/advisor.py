"""Strategy advisor: place the task on the size x similarity grid, rank backbones by
transferability scores, recommend a strategy, show beside it the advisor learned from the
lab's own runs (and the track record of both), then check the prediction with real runs."""

from __future__ import annotations

import json
import math

import pandas as pd
import streamlit as st

from tlcore import plots
from tlcore.models import available_backbones
from tlcore.names import domain_label
from tlcore.transfer.advice_types import Advice
from tlcore.transfer.advisor import advise
from tlcore.transfer.check import candidate_configs, check
from tlcore.transfer.learned_advice import extra_configs
from tlcore.transfer.rules import RULES
from tlcore.transfer.scores import SCORES
from ui.advisor_learned import record_check, refit_button, show_learned
from ui.grid_view import live_grid
from ui.state import get_setup, keep_in_url, keep_list_in_url, show_notices, url_choice, url_list
from ui.store import stored_ids, submit

st.title("Strategy advisor")
show_notices()
st.markdown(
    "The classic guidance picks a strategy from two things: how much labelled data the target "
    "has, and how similar it is to what the backbone was pretrained on. This page measures both, "
    "ranks candidate backbones by **transferability scores** computed on their frozen features in "
    "seconds, predicts which strategy and backbone will win, and then lets you **check** the "
    "prediction with short real runs. Beside the classic rule, an advisor **learned** from the lab's own "
    "runs predicts each strategy's accuracy, with its record on datasets it never saw.")

cfg = get_setup()
available = available_backbones()
default = [b for b in available if b.startswith("lab_")] or available[:3]
if cfg.backbone in available and cfg.backbone not in default:
    default.insert(0, cfg.backbone)
c1, c2 = st.columns([3, 1])
backbones = c1.multiselect("Candidate backbones", available, key="adv_backbones",
                           default=url_list("adv_backbones", available, default),
                           help="ImageNet backbones are scored at their own input size; lab ones at 32 px.")
primary = c2.selectbox("Rank by", SCORES.names(), key="adv_primary",
                       index=url_choice("adv_primary", SCORES.names()),
                       format_func=lambda n: SCORES.get(n).title, help="; ".join(
                           f"**{s.title}**: {s.description}" for s in SCORES))
keep_list_in_url("adv_backbones", backbones)
keep_in_url("adv_primary", primary)
st.caption(f"Task: `{domain_label(cfg.dataset)}`, {cfg.labels_per_class or 'all'} labels per class (change on the Data "
           f"page). The strategy advice is for the top-ranked backbone.")


@st.cache_data(max_entries=16, show_spinner=False)
def advice_for(cfg_json: str, backbones: tuple[str, ...], primary: str) -> Advice:
    from tlcore.config import RunConfig

    return advise(RunConfig.from_dict(json.loads(cfg_json)), list(backbones), primary=primary)


key = (cfg, tuple(backbones), primary)
if st.button("Score and advise", type="primary", icon=":material/psychology:", key="adv_go", disabled=not backbones):
    st.session_state["adv_key"] = key
elif "adv_key" not in st.session_state and st.query_params.get("adv") == "1" and backbones:
    st.session_state["adv_key"] = key  # a link to a shown result shows it again (cached by the server)
keep_in_url("adv", "1" if st.session_state.get("adv_key") == key else None)
if st.session_state.get("adv_key") != key:
    st.caption("Press the button: scoring reads each backbone's features of the labelled images once "
               "(seconds for lab backbones, up to a minute for ImageNet ones the first time), then caches them.")
    st.stop()

with st.spinner("Computing features, scores and domain distances…"):
    try:
        advice = advice_for(json.dumps(cfg.to_dict()), tuple(backbones), primary)
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        st.error(f"Cannot score this task: {e}", icon=":material/error:")
        st.stop()

st.success(advice.reason, icon=":material/lightbulb:")
left, right = st.columns([3, 2])
sz, sim = advice.size, advice.similarity
cells = {(0 if s == "small" else 1, 0 if m == "similar" else 1): f"{s} + {m}:<br><b>{r.strategy}</b>"
         for (s, m), r in RULES.items()}
y = sim.a_distance if sim.a_distance is not None else 2.0
left.plotly_chart(plots.strategy_grid(
    max(1, sz.min_per_class), y, sz.threshold, sim.threshold, cells, "labelled images per class (smallest class)",
    "proxy A-distance to the pretraining data", point_text=cfg.dataset), key="adv_grid")
with right:
    st.markdown(f"**Size: {sz.call}.** {sz.why}")
    if sim.a_distance is None:
        st.markdown(f"**Similarity: unknown.** {sim.why} The point sits at the top: the advice treats it as "
                    "dissimilar.")
    else:
        st.markdown(f"**Similarity: {sim.call}** (A-distance {sim.a_distance:.2f}, MMD² {sim.mmd2:.3f}, "
                    f"{sim.n_source} pretraining vs {sim.n_target} task images, in `{sim.backbone}`'s features). "
                    f"{sim.why}")
    st.markdown(f"**Rule:** {advice.rule.reason}")

show_learned(cfg, advice.backbone)

st.subheader("Backbones ranked by transferability")
rows = []
for b in advice.backbone_scores:
    row = {"rank": b.rank, "backbone": b.backbone}
    for s in SCORES:
        v = b.scores.get(s.name)
        row[s.title] = f"{v:.3f}" if v is not None and math.isfinite(v) else "–"
    row["seconds"] = b.seconds
    row["note"] = b.error or "; ".join(f"{k}: {v}" for k, v in b.reasons.items())
    rows.append(row)
st.dataframe(pd.DataFrame(rows), hide_index=True, column_config={
    "seconds": st.column_config.NumberColumn(format="%.1f"),
    **{s.title: st.column_config.TextColumn(help="– : could not be computed (see the note)")
       for s in SCORES},
    "note": st.column_config.TextColumn(width="large")})
if missing := [s.title for s in SCORES if any(r.get(s.title) == "–" for r in rows)]:
    st.caption(f"An empty cell ({', '.join(missing)}) means that score could not be computed for that "
               "backbone; its note says why.")
st.caption("Higher is better for every score; scores compare backbones on the same task only.")

st.subheader("Check the prediction")
seeds = st.multiselect("Seeds", list(range(5)), default=url_list("adv_seeds", list(range(5)), [0]),
                       key="adv_seeds")
keep_list_in_url("adv_seeds", seeds)
extra = extra_configs(cfg, advice.backbone, seeds, advice.predicted_strategies)
configs = candidate_configs(cfg, advice, seeds) + extra if seeds else []
plus = f", plus {', '.join(sorted({c.strategy for c in extra}))} for the learned advisor" if extra else ""
st.markdown(f"Runs every predicted strategy on `{advice.backbone}` and every ranked backbone with "
            f"*{advice.strategy}*{plus}: {len(configs)} short runs ({cfg.epochs} epochs each). Once they finish, "
            "the task joins the meta-dataset in your store.")
if st.button(f"Run {len(configs)} runs and compare", key="adv_check", disabled=not configs,
             icon=":material/fact_check:"):
    st.session_state["adv_ids"] = submit(configs)
ids = st.session_state.get("adv_ids") or stored_ids(configs)


def draw(recs, finished: bool) -> None:
    if finished:
        record_check(ids, recs)
    try:
        result = check(advice, [r for r in recs if r.config not in extra])  # extra runs feed the learned advisor
    except ValueError as e:
        st.error(str(e), icon=":material/error:")
        return
    for rc in (result.strategies, result.backbones):
        if rc is None:
            continue
        actual_rank = {name: i + 1 for i, name in enumerate(rc.actual)}
        tau = "n/a" if math.isnan(rc.tau) else f"{rc.tau:+.2f}"
        st.plotly_chart(plots.ranking(rc.predicted, list(range(1, len(rc.predicted) + 1)),
                                      [actual_rank[n] for n in rc.predicted],
                                      f"{rc.axis}: predicted vs actual rank (Kendall's tau {tau})"),
                        key=f"adv_rank_{rc.axis}")
        if finished:
            if rc.disagreements:
                st.markdown(f"**Where the {rc.axis} prediction was wrong:**\n"
                            + "\n".join(f"- {d.text()}" for d in rc.disagreements))
            else:
                st.markdown(f"**The {rc.axis} prediction was right** on every pair "
                            f"({', '.join(f'{n} {rc.accuracy[n]:.1%}' for n in rc.actual)}).")
    if finished and result.skipped:
        st.caption("Not counted: " + "; ".join(result.skipped))


if ids:
    live_grid(ids, "adv", draw)
refit_button()
