"""The Strategy advisor page's learned half: the learned prediction beside the classic rule,
the track record of both on held-out datasets, and the check's runs added to the store's
meta-dataset with a button to refit. The engine does the work
(``tlcore.transfer.learned_advice``, ``tlcore.transfer.lodo``); this only draws."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from tlcore import plots
from tlcore.config import RunConfig
from tlcore.runs import RunRecord
from tlcore.transfer import lodo
from tlcore.transfer.learned import BAND, FOREST
from tlcore.transfer.learned_advice import (
    LearnedAdvice,
    add_check_rows,
    fit_rows,
    learned_advice,
    shipped_table,
)
from tlcore.transfer.meta import load_table, user_table
from ui.store import get_store

REFIT = "adv_refit"  # session key: how many times the user refitted (part of the cache key)


@st.cache_data(max_entries=16, show_spinner=False)
def _learned(cfg_json: str, backbone: str, store_root: str, refit: int) -> LearnedAdvice:
    return learned_advice(RunConfig.from_dict(json.loads(cfg_json)), backbone, store_root)


@st.cache_data(max_entries=4, show_spinner=False)
def _lodo(store_root: str, refit: int) -> dict:
    return lodo.evaluate(fit_rows(store_root)[0]).to_dict()


def show_learned(cfg: RunConfig, backbone: str) -> LearnedAdvice | None:
    """The rule's order and the learned one side by side, the predicted accuracies with their
    band, then the track record of both."""
    st.subheader("The rule beside the learned advisor")
    root = str(get_store().root)
    refit = st.session_state.get(REFIT, 0)
    with st.spinner("Measuring the task's signals…"):
        try:
            la = _learned(json.dumps(cfg.to_dict()), backbone, root, refit)
        except (ValueError, OSError, KeyError) as e:
            st.warning(f"No learned prediction: {e}", icon=":material/warning:")
            return None
    left, right = st.columns(2)
    left.markdown("**Classic rule** (size x similarity, above):\n"
                  + "\n".join(f"{i}. {s}" for i, s in enumerate(la.rule, 1)))
    mine = f", {la.user_rows} of them from your checks" if la.user_rows else ""
    right.markdown(f"**Learned** from {la.rows} tasks of {len(la.families)} datasets{mine}:\n"
                   + "\n".join(f"{i}. {p.strategy}: {p.accuracy:.1%} ({p.low:.0%} to {p.high:.0%})"
                               for i, p in enumerate(la.predictions, 1)))
    p = la.predictions
    st.markdown(_verdict(la))
    st.plotly_chart(plots.predicted_accuracy([x.strategy for x in p], [x.accuracy for x in p], [x.low for x in p],
                                             [x.high for x in p], f"predicted test accuracy on {backbone}"),
                    key="adv_learned_chart")
    st.caption(f"A random forest ({FOREST['n_estimators']} trees) predicts each strategy's accuracy from signals "
               "measured in seconds: labels per class, classes, image size, LogME / LEEP / NCE / H-score, a k-NN "
               "accuracy on the frozen features and the A-distance to the pretraining data; never the dataset's "
               f"name. The band is the {BAND[0]:.0f}th to {BAND[1]:.0f}th percentile of its trees' predictions: "
               "how much they disagree, not a calibrated interval (the track record says how often it held)."
               + _epochs_note(cfg, la))
    track_record(root, refit)
    return la


def _verdict(la: LearnedAdvice) -> str:
    pred = {p.strategy: p for p in la.predictions}
    best, rule_pick = la.predictions[0], pred.get(la.rule[0])
    if best.strategy == la.rule[0]:
        return f"Both pick **{best.strategy}** (predicted {best.accuracy:.0%})."
    gap = f" (predicted {best.accuracy:.0%} against {rule_pick.accuracy:.0%})" if rule_pick else ""
    return (f"They disagree: the rule picks **{la.rule[0]}**, the learned advisor **{best.strategy}**{gap}. "
            "The check below runs both.")


def _epochs_note(cfg: RunConfig, la: LearnedAdvice) -> str:
    """What the model has not seen about this task, said beside its prediction."""
    note = ""
    if not la.seen_backbone:
        note += (f" It has never seen a task on {la.config.backbone} (it learnt from {', '.join(la.backbones)}), so "
                 "here it extrapolates.")
    if la.epochs and cfg.epochs not in la.epochs:
        note += (f" Its runs trained {'/'.join(map(str, la.epochs))} epochs and this setup trains {cfg.epochs}: the "
                 "accuracies can differ more than the band says; the order is what it learnt.")
    return note


def track_record(root: str, refit: int) -> None:
    """Leave-one-dataset-out: the recorded one (shipped), or one on the rows refitted on."""
    mine = len(load_table(user_table(root))["rows"])
    record = _lodo(root, refit) if refit and mine else shipped_table().get("lodo")
    if not record:
        return
    st.markdown("**Track record on datasets each model never saw** (leave one dataset out: fitted on the other "
                "datasets, Kendall's tau between predicted and real order of the four strategies the rule ranks, "
                "mean over the held-out dataset's tasks; 1 = always right, 0 = no better than chance)")
    df = pd.DataFrame([{"held-out dataset": f["dataset"], "tasks": f["tasks"], "tau learned": f["tau"]["learned"],
                        "tau rule": f["tau"]["rule"], "tau fixed order": f["tau"]["mean_order"],
                        "points lost, learned": f["regret"]["learned"], "points lost, rule": f["regret"]["rule"],
                        "real inside band": 100 * f["coverage"]} for f in record["folds"]])
    fmt = st.column_config.NumberColumn
    st.dataframe(df, hide_index=True, column_config={
        "tau learned": fmt(format="%+.2f"), "tau rule": fmt(format="%+.2f"),
        "tau fixed order": fmt(format="%+.2f", help="one order for every task: the strategies by mean accuracy "
                                                    "on the training datasets"),
        "points lost, learned": fmt(format="%.1f", help="accuracy lost by running the predicted best strategy "
                                                        "instead of the real best, in points"),
        "points lost, rule": fmt(format="%.1f"), "real inside band": fmt(format="%.0f%%", help=f"share of the real "
                                                                          f"accuracies inside the {BAND[0]:.0f}-"
                                                                          f"{BAND[1]:.0f} band")})
    m = record["mean"]
    which = "refitted with your checks" if refit and mine else f"recorded by `{record.get('command', '')}`"
    noise = ""
    if (seeds := record.get("seed_agreement")) and (over := record.get("over_seeds")):
        o = over["mean"]
        noise = (f" Scored against each task's mean over its seeds ({over['rows']} tasks): learned {o['learned']:+.2f}, "
                 f"rule {o['rule']:+.2f}. One run's order is noisy: two seeds of the same task agree at tau "
                 f"{seeds['tau']:+.2f} and name the same best strategy in {seeds['same_winner']:.0%} of pairs.")
    st.caption(f"Mean tau: learned {m['learned']:+.2f}, rule {m['rule']:+.2f}, fixed order {m['mean_order']:+.2f} "
               f"({record['rows']} tasks; {which}).{noise}")


def record_check(ids: list[str], recs: list[RunRecord]) -> None:
    """Once a check has finished: add its task to the store's meta-dataset (once per check)."""
    done = st.session_state.setdefault("adv_recorded", {})
    key = ",".join(sorted(ids))
    if key not in done:
        done[key] = add_check_rows(get_store().root, recs)
    if done[key]:
        st.caption(f"Added this check as {done[key]} task(s) to the meta-dataset in your store; refit below to "
                   "learn from it.")


def refit_button() -> None:
    """Refit the learned advisor on the shipped rows plus the store's (shown when it has some)."""
    rows, mine = fit_rows(get_store().root)
    if not mine or st.session_state.get(f"{REFIT}_rows") == mine:  # none yet, or refitted on all of them
        return
    if st.button(f"Refit the learned advisor on {len(rows)} tasks ({mine} from your checks)", key="adv_refit_btn",
                 icon=":material/model_training:"):
        st.session_state[REFIT] = st.session_state.get(REFIT, 0) + 1
        st.session_state[f"{REFIT}_rows"] = mine
        st.rerun()
