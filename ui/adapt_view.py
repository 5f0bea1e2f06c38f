"""The Domain adaptation page's result views: summary table, curves, embeddings over epochs.

Everything drawn here is read from stored runs (``tlcore.runs``) through the pure
functions of ``tlcore.transfer.adapt_study``; nothing is computed in the page itself
except the cached projection of the stored feature snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from tlcore import plots
from tlcore.config import RunConfig
from tlcore.embed import fit_map
from tlcore.folder_defaults import Chosen, folder_defaults, own_data
from tlcore.runs import RunRecord
from tlcore.strategies import title
from tlcore.strategies.adaptation import ADAPT_TOP
from tlcore.strategies.knobs import with_value
from tlcore.transfer import adapt_study as da
from tlcore.transfer import criteria_study as cs
from tlcore.transfer.criteria import CRITERIA
from ui.pairs import stamps
from ui.store import get_store

EMBED_POINTS = 4000  # all epochs of two runs share one map; ~220 images per epoch and run


def _series(recs: Sequence[RunRecord], metric: str, start: str | None = None) -> list[dict]:
    """One curve per run (labelled by method and seed); ``start`` names a metric giving
    the epoch-0 point (before training)."""
    out = []
    for r in recs:
        pts = [(h["epoch"], h[metric]) for h in r.history if h.get(metric) is not None]
        if start and start in r.metrics and pts:
            pts.insert(0, (0, r.metrics[start]))
        if pts:
            seeds = len({x.config.seed for x in recs}) > 1
            out.append({"label": title(r.config.strategy) + (f" (seed {r.config.seed})" if seeds else ""),
                        "x": [p[0] for p in pts], "mean": [p[1] for p in pts]})
    return out


def summary(recs: Sequence[RunRecord]) -> None:
    rows = da.summarise(recs)
    if not rows:
        st.warning("None of these runs finished with a target accuracy.", icon=":material/warning:")
        return
    published = any(r.published is not None for r in rows)
    table = pd.DataFrame([{
        "method": title(r.method), "target accuracy": r.target_accuracy,
        "± sd (points)": r.target_std * 100 if len(r.seeds) > 1 else None, "seeds": len(r.seeds),
        **({"published (Ganin et al.)": r.published} if published else {}),
        "source test accuracy": r.source_accuracy,
        "A-distance before (all test images)": r.a_distance_before,
        "A-distance after (all test images)": r.a_distance_after,
        "seconds per run": r.seconds} for r in rows])
    if table["± sd (points)"].isna().all():  # one seed each: no spread to show
        table = table.drop(columns="± sd (points)")
    pct = st.column_config.NumberColumn(format="percent")
    num = st.column_config.NumberColumn(format="%.2f")
    st.dataframe(table, hide_index=True, column_config={
        "target accuracy": pct, "source test accuracy": pct, "published (Ganin et al.)": pct,
        "± sd (points)": st.column_config.NumberColumn(format="%.1f"),
        "A-distance before (all test images)": num, "A-distance after (all test images)": num,
        "seconds per run": st.column_config.NumberColumn(format="%.0f")})
    if text := da.verdict(rows):
        st.markdown(f"**{text}**")
    if published:
        st.caption(f"Published: {da.PUBLISHED_SOURCE}, a small CNN trained on all of MNIST for many "
                   "epochs. Ours: a pretrained lab backbone, a label budget and a few epochs on a CPU, so "
                   "compare the gaps, not the absolute numbers. A-distance 0 means a linear classifier "
                   "cannot tell the domains' features apart, 2 that it separates them perfectly.")


def curves(recs: Sequence[RunRecord]) -> None:
    """Discriminator accuracy (DANN) and A-distance per epoch; the live view above already
    draws target accuracy per epoch."""
    left, right = st.columns(2)
    dann = [r for r in recs if any("domain_acc" in h for h in r.history)]
    if dann:
        left.plotly_chart(plots.curves(_series(dann, "domain_acc"), "domain_acc",
                                       reference=(0.5, "chance: domains indistinguishable")),
                          key="da_domain_curves")
        ends = [h["domain_acc"] for r in dann for h in r.history[-1:] if "domain_acc" in h]
        end = sum(ends) / len(ends) if ends else float("nan")
        left.caption("DANN's discriminator tells source from target features while the gradient reversal "
                     "pushes the features to fool it. Full alignment would hold it at 50% (below 50%: the "
                     "features flip faster than it can follow; lower the DANN strength). "
                     + (f"Here it ends at {end:.0%} on average: the features are not made domain-blind "
                        "(the DANN strength is a moderate 0.3, and the discriminator keeps learning). "
                        "What adaptation bought shows in the target accuracy, not in this curve reaching "
                        "50%." if end > 0.6 else f"Here it ends at {end:.0%}."))
    right.plotly_chart(plots.curves(_series(recs, "a_distance", start="a_distance_sampled_before"), "a_distance"),
                       key="da_adist_curves")
    right.caption("Proxy A-distance per epoch (epoch 0: before training) on a fixed sample of 20 test "
                  "images per class and domain: a logistic-regression domain classifier on the features, "
                  "trained on half and scored on the other half. 0: indistinguishable; 2: perfectly "
                  "separable. The table's A-distances use the same classifier on *all* test images, so "
                  "its numbers differ a little from this curve's first and last points. A linear probe "
                  "can separate the domains even when the classes line up well, so the A-distance can "
                  "rise while the target accuracy improves.")


@st.cache_data(max_entries=16, show_spinner=False)
def _projection(run_ids: tuple[str, ...], method: str) -> dict:
    """Every epoch's snapshot of every run through ONE map (``tlcore.embed.fit_map``)."""
    store = get_store()
    sets, names = [], None
    for rid in run_ids:
        rec = store.get(rid, history=False)
        names = names or rec.metrics.get("class_names", [])
        for e, snap in enumerate(da.snapshot_sets(store.load_artifacts(rid))):
            sets.append((f"{rid}:{e}", snap))
    if not sets:
        return {}
    emap = fit_map(sets, method, seed=0, max_points=EMBED_POINTS, class_names=names or ())
    return {stage: emap.points(stage) for stage, _ in sets}


def embeddings(recs: Sequence[RunRecord]) -> None:
    """Side-by-side clouds for chosen runs, with a slider over epochs."""
    done = [r for r in recs if r.status == "done"]
    seeds = sorted({r.config.seed for r in done})
    c1, c2, c3 = st.columns([1, 2, 1])
    seed = c1.selectbox("Seed", seeds, key="da_emb_seed") if len(seeds) > 1 else (seeds[0] if seeds else 0)
    mine = {r.config.strategy: r for r in done if r.config.seed == seed}
    default = [m for m in ("source_only", "dann") if m in mine] or list(mine)[:2]
    shown = c2.multiselect("Runs side by side", list(mine), default=default, format_func=title,
                           key="da_emb_runs", max_selections=3)
    method = c3.radio("Map", ["umap", "pca"], horizontal=True, key="da_emb_method",
                      format_func=str.upper)
    if not shown:
        st.caption("Pick at least one run.")
        return
    with st.spinner("Fitting one map to every epoch of these runs (UMAP: a few seconds)…"):
        pts = _projection(tuple(mine[m].id for m in shown), method)
    if not pts:
        st.caption("These runs stored no per-epoch features (made before runs kept them): re-run them.")
        return
    epochs = max(int(s.split(":")[1]) for s in pts)
    epoch = st.slider("Epoch (0 = the pretrained features, before training)", 0, epochs, epochs, key="da_emb_epoch")
    color = st.radio("Colour by", ["domain", "class"], horizontal=True, key="da_emb_color")
    panels = [(f"{title(m)} · epoch {epoch}", pts[f"{mine[m].id}:{epoch}"]) for m in shown
              if f"{mine[m].id}:{epoch}" in pts]
    st.plotly_chart(plots.embedding(panels, color, axis_prefix="PC" if method == "pca" else ""),
                    key="da_emb_chart", config=plots.CHART_CONFIG)
    st.caption("Circles: source test images; diamonds: target test images (the same images at every "
               "epoch). One map is fitted to all epochs of the runs shown, so what moves as you drag the "
               "slider is the features, not a new random layout. Adaptation works when the orange target "
               "points settle among the source points of their own class.")


def without_labels(recs: Sequence[RunRecord]) -> None:
    """What the label-free criteria say about these runs, and a plain warning when the
    criterion that ranked runs best in the recorded study says a method hurt."""
    with_criteria = [r for r in recs if r.status == "done" and "criteria" in r.metrics]
    if not with_criteria:
        return
    t = cs.trusted(with_criteria)
    best, study = t.criterion, t.study
    j = cs.judge(with_criteria, best)
    title_c = CRITERIA.get(best).title
    o = study["overall"][best] if study else None
    which = ("the recorded study of runs that adapt only their top groups, as these did"
             if t.own_regime and cs.adapts_top(with_criteria) else "the recorded study")
    how = (f"the criterion whose picks did best in {which}: over {len(study['pairs'])} pairs "
           f"with labels they gained {o['mean_vs_source'] * 100:+.1f} points over source-only on average and "
           f"were never more than {max(0.0, -o['worst_vs_source']) * 100:.1f} below it"
           if study else "no criteria study is recorded, so this is DEV, the paper-backed default")
    if j is not None and j.worse:
        st.warning(f"**Adaptation may have hurt here.** Judged without target labels by {title_c} ({how}), "
                   f"{', '.join(title(m) for m in j.worse)} likely did worse on the target than training on "
                   f"the source alone. {title(j.picked)} looks best by it. In real use you have no target "
                   "labels to check this; with them, the table above tells the truth.", icon=":material/warning:")
    elif j is not None:
        st.success(f"By {title_c} ({how}), no method here looks worse than source-only on the target; "
                   f"{title(j.picked)} looks best.", icon=":material/check_circle:")
    if j is not None and j.unjudged:
        st.caption(f"Not judged by {title_c}: {', '.join(title(m) for m in j.unjudged)}, whose training drives it "
                   "on the target, so its value says what was trained, not whether the predictions are right.")
    rows = {}
    for r in with_criteria:
        rows.setdefault(r.config.strategy, []).append(r.metrics["criteria"])
    table = pd.DataFrame([{"method": title(m), **{CRITERIA.get(c).title + (" ↑" if CRITERIA.get(c).higher_is_better
                                                                           else " ↓"): sum(v[c] for v in vs) / len(vs)
                                                  for c in CRITERIA.names()}} for m, vs in rows.items()])
    st.dataframe(table, hide_index=True)
    st.caption("Label-free criteria (↑ higher or ↓ lower is better), computed from source validation images and "
               "unlabelled target images only. " + "; ".join(f"**{c.title}**: {c.description}" for c in CRITERIA)
               + ". The target oracle trains on target labels, so it is left out of the judgement.")


def results(recs: Sequence[RunRecord]) -> None:
    """Everything drawn once a study's runs have finished."""
    st.subheader("Results")
    summary(recs)
    st.subheader("Without target labels: would you have known?")
    without_labels(recs)
    curves(recs)
    st.subheader("Embeddings over epochs")
    embeddings(recs)


def recorded() -> None:
    """The reproduction numbers recorded with the CLI (assets/results), with their command."""
    for top in (False, True):
        if not (study := cs.recorded_study(top)):
            continue
        regime = ("only the top half of the groups adapting, as auto trains on your own folders" if top
                  else "every group training")
        with st.container(border=True):
            st.markdown(f"**Which label-free criterion to trust, {regime}**: recorded {study['date']} with "
                        f"`{study['command']}` ({study['wall_seconds'] / 60:.1f} min on {study['machine']}): "
                        f"{len(cs.CANDIDATES)} candidates on each of {len(study['pairs'])} source → target "
                        "pairs whose targets have labels, each criterion's ranking against true target accuracy.")
            st.markdown(cs.markdown_table(study["overall"]))
            st.markdown(f"Trusted for picking (safe picks, then the largest mean gain over source-only): "
                        f"**{CRITERIA.get(study['best']).title}**. No criterion ranks all candidates well (the best "
                        f"mean Kendall tau is {max(o['mean_tau'] for o in study['overall'].values()):.2f}); AdaBN was within 2 points of the best on {cs.near_best(study, 'AdaBN')} "
                        f"of {len(study['pairs'])} pairs.")
            st.markdown(cs.held_out_sentence(study))
    for rec in da.recorded_results():
        with st.container(border=True):
            st.markdown(f"**{rec['title']}** — recorded {rec['date']} with `{rec['command']}` "
                        f"({rec['wall_seconds'] / 60:.1f} min on {rec['machine']})")
            rows = [da.MethodSummary(**r) for r in rec["rows"]]
            st.markdown(da.markdown_table(rows))
            st.markdown(rec["verdict"])


@st.cache_data(max_entries=16, show_spinner=False)
def _folder_defaults(cfg: RunConfig, budget_given: bool, top_given: bool, files: tuple) -> Chosen:
    """``folder_defaults`` once per setting and change of the files (``files``: their
    stamps): it reads the source folder, which a rerun must not do again."""
    return folder_defaults(cfg, budget_given=budget_given, top_given=top_given)


def own_folders(cfg: RunConfig) -> RunConfig:
    """For two user folders: toggles (on by default) to train on every labelled source
    image rather than the Data page's budget, and to adapt only the top half of the groups
    (``adapt_top``), and the sentences saying what was chosen."""
    if not own_data(cfg):
        return cfg
    a, b = st.columns(2)
    every = a.toggle("Train on every labelled source image", value=True, key="da_all_labels",
                     help="Your own folders: the labels you have are the data you have. Off: "
                          f"{cfg.labels_per_class or 'all'} labels per class, the Data page's budget.")
    top = b.toggle("Adapt only the top groups (faster)", value=True, key="da_top_only",
                   help="The lower half of the backbone stays as pretrained and is computed once per "
                        "image, so each step costs a fraction. Off: every group trains.")
    # judged as source-only, which has every adaptation method's adapt_top; the page's
    # strategy comes back after (each method's run keeps the settings it declares)
    base = cfg.replace(strategy="source_only")
    if not top:
        base = with_value(base, ADAPT_TOP, 0)
    chosen = _folder_defaults(base, not every, not top, stamps(cfg))
    st.caption(" ".join(chosen.said))
    return chosen.cfg.replace(strategy=cfg.strategy)


def auto_result(recs: Sequence[RunRecord]) -> None:
    """What ``auto`` picked among its finished candidates, and why, in the CLI's words."""
    try:
        choice = cs.auto_pick(recs)
    except ValueError as e:
        st.error(f"auto could not pick: {e}", icon=":material/error:")
        return
    rec = choice.picked
    st.success(f"**auto picked {cs.label(rec.config)}.** {choice.why}", icon=":material/auto_awesome:")
    known = [r for r in recs if r.status == "done" and "target_accuracy" in r.metrics]
    if known and "target_accuracy" in rec.metrics:
        best = max(known, key=lambda r: r.metrics["target_accuracy"])
        src = next((r for r in known if r.config.strategy == "source_only"), None)
        st.caption(f"This target has labels, so the pick can be checked (auto did not read them): "
                   f"{rec.metrics['target_accuracy']:.1%} on the target"
                   + (f", source-only {src.metrics['target_accuracy']:.1%}" if src else "")
                   + f"; the best candidate, {cs.label(best.config)}, scored {best.metrics['target_accuracy']:.1%}.")
