"""The Experiments page's Sweep tab: a grid (or random draws) over the settings a
practitioner asks about first (head LR, the backbone's LR multiplier, how many groups
fine-tune, the BatchNorm policy) on the current setup, queued through the app's workers
and drawn live as a parallel-coordinates plot and a table, best first.

The plan and the checks are ``tlcore.sweep``'s, the same as ``tlcore sweep``'s: a trial
this tab queues has the run id the command line would give it, so either reuses the other.
A grid or random draws on all of the server's workers are queued from the script run
(``ui.grid_view``). What a script run cannot drive (a TPE search, which waits for each
score; Ray; fewer trials at once than the server has workers) runs in a driver process
(``tlcore.sweep_driver``, drawn by ``ui.sweep_driver_view``).
"""

from __future__ import annotations

import functools
import importlib.util
import time

import streamlit as st

from tlcore import plots
from tlcore.config import BN_POLICIES
from tlcore.names import domain_label
from tlcore.runs import FINAL
from tlcore.strategies import STRATEGIES, title
from tlcore.sweep import (
    METRICS,
    Dim,
    SweepSpec,
    check_search,
    matters,
    noise,
    plan,
    ranked,
    trial_row,
)
from tlcore.workers import cores, worker_count
from ui import workspace
from ui.grid_view import run_grid
from ui.store import get_store
from ui.sweep_driver_view import driver_section

K = "exp_sweep"
MAX_TRIALS = 48  # more is a job for `tlcore sweep` (and a class's shared workers)
# field -> (label, options, default values, help)
AXES = {
    "lr": ("Head learning rate", [0.1, 0.03, 0.01, 0.003, 0.001, 0.0003], [0.01, 0.001],
           "The new head's learning rate (cosine-decayed)."),
    "backbone_lr_mult": ("Backbone LR multiplier", [1.0, 0.3, 0.1, 0.03, 0.01], [0.1],
                         "Trained backbone groups learn at head LR x this (discriminative learning rates)."),
    "top_k": ("Groups fine-tuned below the head", [0, 1, 2, 3, 4], [1, 2],
              "Fine-tune top: how many layer groups under the head train."),
    "bn_policy": ("BatchNorm in frozen groups", list(BN_POLICIES), ["frozen"],
                  "frozen: keep statistics and affine; stats: re-estimate; affine: train scale and shift; "
                  "train: both."),
}
TOP = 4  # trials taken to Compare


def _axes(base) -> tuple[list[str], list[str]]:
    """The axes that can change a run of ``base``'s strategy, and those that cannot (a
    frozen backbone has no LR multiplier; fine-tune all freezes no BatchNorm)."""
    shown = [a for a in AXES if matters(base, a)]
    return shown, [a for a in AXES if a not in shown]


def _spec(base) -> SweepSpec | None:
    names = [s.name for s in STRATEGIES]
    c1, c2, c3 = st.columns(3)
    strategy = c1.selectbox("Strategy", names, index=names.index(base.strategy) if base.strategy in names else 0,
                            format_func=title, key=f"{K}_strategy")
    seeds = c2.multiselect("Seeds", list(range(5)), default=[0], key=f"{K}_seeds",
                           help="Each point runs with each seed: the spread says which differences are noise.")
    metric = c3.selectbox("Ranked by", METRICS.names(), key=f"{K}_metric",
                          format_func=lambda m: f"{m} ({METRICS.get(m).help})",
                          help="Never a test split: the best of many runs on the test set reports an "
                               "optimistic number.")
    dims = []
    shown, hidden = _axes(base.replace(strategy=strategy))
    cols = st.columns(len(shown))
    for col, name in zip(cols, shown, strict=True):
        label, options, default, help_ = AXES[name]
        chosen = col.multiselect(label, options, default=default, key=f"{K}_{name}", help=help_)
        if chosen:
            dims.append(Dim(name, tuple(chosen)))
    if hidden:
        st.caption(f"Not offered: {', '.join(AXES[a][0].lower() for a in hidden)}: "
                   f"{'it does' if len(hidden) == 1 else 'they do'} not change a {title(strategy)} run.")
    c1, c2 = st.columns([2, 1])
    searches = ["grid", "random"] + (["tpe"] if has("optuna") else [])
    search = c1.radio("Search", searches, horizontal=True, key=f"{K}_search", format_func=SEARCH_WORDS.get,
                      help="Random: each number is drawn between the smallest and largest value picked "
                           "(log scale for the learning rate and the multiplier); a BatchNorm policy from "
                           "those picked. TPE (Optuna's model-based search) draws in the same ranges, "
                           "each point chosen from the scores of the trials before it.")
    if "tpe" not in searches:
        c1.caption("Model-based search (TPE) needs Optuna: `pip install -e '.[search]'`.")
    trials = c2.number_input("Draws" if search == "random" else "Points", 1, MAX_TRIALS, 8,
                             key=f"{K}_trials") if search != "grid" else None
    if search != "grid":
        dims = [_as_range(d) for d in dims]
    if not seeds:
        st.info("Pick at least one seed.", icon=":material/info:")
        return None
    return SweepSpec(base=base.replace(strategy=strategy), dims=tuple(dims), search=search,
                     trials=int(trials) if trials else None, seeds=tuple(seeds), metric=metric)


SEARCH_WORDS = {"grid": "every combination", "random": "random draws in these ranges",
                "tpe": "TPE: each point from the scores so far"}
LOG_AXES = ("lr", "backbone_lr_mult")  # rates: drawn on a log scale


@functools.cache
def has(module: str) -> bool:
    """Whether an optional extra is installed (Optuna for TPE, Ray), without importing it
    (once per server process: it searches the import path)."""
    return importlib.util.find_spec(module) is not None


def _engine() -> tuple[str, int, str | None]:
    """Where the trials train and how many at once: this server's workers (the class's
    fair queue, at most ``worker_count()`` at once) or Ray. Ray starts processes on every
    core it is given, or joins a cluster: on a shared server only the teacher may start it."""
    workers = worker_count()
    c1, c2, c3 = st.columns([2, 1, 2])
    engines = ["local"] + (["ray"] if has("ray") else [])
    engine = c1.radio("Trials train on", engines, horizontal=True, key=f"{K}_engine", format_func={
        "local": f"this server's workers ({workers})", "ray": "Ray"}.get,
        help="This server's workers: the queue every session shares, each worker on its share of the cores "
             "(TLAB_WORKERS). Ray: a Ray on this machine, or a cluster by address (`ray start --head`).")
    if "ray" not in engines:
        c1.caption("Ray is not installed here: `pip install -e '.[ray]'`.")
    most = workers if engine == "local" else 64
    conc = int(c2.number_input("Trials at once", 1, most, min(most, workers if engine == "local" else cores()),
                               key=f"{K}_conc_{engine}", disabled=most == 1,
                               help="At most this server's workers on its queue; on Ray, each trial takes one CPU."))
    address = None
    if engine == "ray":
        if not workspace.admin():
            st.warning("Ray starts processes on the cores it is given, or joins a cluster: on a shared server only "
                       "the teacher may start it. Unlock teacher rights in the sidebar (the key `tlcore admin-key` "
                       "prints), or run it with `tlcore sweep --engine ray`.", icon=":material/lock:")
            return engine, 0, None
        address = c3.text_input("Cluster address", key=f"{K}_address", placeholder="blank: a Ray on this machine",
                                help="HOST:PORT of `ray start --head`, auto, or ray://HOST:10001. Ray's ports "
                                     "must not face the internet.").strip() or None
    return engine, conc, address


def _as_range(d: Dim) -> Dim:
    """A numeric axis with two or more values picked, as the range between them."""
    nums = [v for v in d.values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(set(nums)) < 2 or len(nums) != len(d.values):
        return d
    return Dim(d.name, low=float(min(nums)), high=float(max(nums)), log=d.name in LOG_AXES)


def _draw(spec: SweepSpec, cfgs, key: str = K):
    """The trials' plot, the best so far, their table and the way to Compare (widget keys
    under ``key``: the live sweep and a past one are drawn on one page)."""

    def draw(recs, finished: bool) -> None:
        by_id = {r.id: r for r in recs}
        rows = [trial_row(i, c, by_id.get(c.run_id()), spec) for i, c in enumerate(cfgs) if c.run_id() in by_id]
        done = [r for r in rows if r["score"] is not None]
        if not done:
            st.caption("The plot appears as soon as the first trials finish.")
            return
        axes = [{"label": d.name, "values": [_value(r, d.name) for r in done]} for d in spec.dims]
        if len(spec.seeds) > 1:
            axes.append({"label": "seed", "values": [r["config"]["seed"] for r in done]})
        axes = [a for a in axes if len({str(v) for v in a["values"]}) > 1] or axes  # a constant says nothing
        st.plotly_chart(plots.parallel(axes, [r["score"] for r in done], spec.metric), key=f"{key}_parcoords",
                        config=plots.CHART_CONFIG)
        order = ranked(rows, spec.metric)
        top = order[0]
        test = top["metrics"].get("test_accuracy")
        st.markdown(f"**Best so far by {spec.metric}:** {top['values']} (seed {top['config']['seed']}): "
                    f"{spec.metric} {top['score']:.3f}" + (f", test accuracy {test:.3f}, reported, not used "
                                                          "to choose" if test is not None else ""))
        if spec.metric.endswith("accuracy"):
            n_val = spec.base.val_per_class * len(by_id[top["run_id"]].metrics.get("class_names", []))
            if n_val:
                st.caption(f"The validation split has {n_val} images: differences of less than about "
                           f"{noise(n_val, top['score']):.0%} between trials are within its noise. More seeds "
                           "say which differences last.")
        st.dataframe([{"": "★" if r is top else "", **{d.name: _value(r, d.name) for d in spec.dims},
                       "seed": r["config"]["seed"], spec.metric: r["score"],
                       "test accuracy": r["metrics"].get("test_accuracy"), "seconds": r["seconds"],
                       "status": r["status"], "run": r["run_id"]} for r in order],
                     hide_index=True, key=f"{key}_table")
        best_ids = [r["run_id"] for r in order if r["score"] is not None][:TOP]
        if st.button(f"Open the best {len(best_ids)} in Compare", key=f"{key}_compare",
                     icon=":material/compare_arrows:"):
            st.session_state["compare_selected"] = best_ids
            st.switch_page("app_pages/compare.py", query_params={"runs": ",".join(best_ids)})

    return draw


def _value(row: dict, name: str):
    v = row["config"].get(name)
    return "all" if name == "labels_per_class" and v is None else v


def sweep_tab() -> None:
    from ui.state import get_setup

    st.markdown("Which learning rate, which backbone multiplier, how many groups to fine-tune? Pick the "
                "values to try on the current setup: every combination, random draws, or a TPE search that "
                "picks each point from the scores so far. Trials train on the app's workers (or on Ray) and "
                "are ranked by a validation number, so the test accuracy of the winner stays honest.")
    base = get_setup()
    spec = _spec(base)
    if spec is None:
        return
    st.caption(f"Backbone `{base.backbone}` on `{domain_label(base.dataset)}`"
               + (f" → `{domain_label(base.target)}`" if base.target else "")
               + f", {base.labels_per_class or 'all'} labels per class, {base.epochs} epochs (set these on the "
               f"Data, Model and Train pages). Trials train on this server's {worker_count()} background "
               "worker(s); for more cores or machines use `tlcore sweep` (the same trials, the same run ids).")
    engine, conc, address = _engine()
    try:
        check_search(spec)
        cfgs = [] if spec.search == "tpe" else plan(spec)
    except ValueError as e:
        st.error(f"Cannot plan this sweep: {e}", icon=":material/error:")
        return
    n_trials = spec.most_runs() if spec.search == "tpe" else len(cfgs)
    if n_trials > MAX_TRIALS:
        st.warning(f"{n_trials} trials is more than this page queues at once ({MAX_TRIALS}): choose fewer "
                   "values or seeds, use random draws, or run it with `tlcore sweep`.", icon=":material/warning:")
        return
    if spec.search == "tpe" or engine == "ray" or conc < worker_count():
        if conc:  # 0: Ray without teacher rights (said above)
            driver_section(spec, n_trials, engine, conc, address, _draw, K)
        past_sweeps()
        return
    if len(cfgs) > MAX_TRIALS:
        st.warning(f"{len(cfgs)} trials is more than this page queues at once ({MAX_TRIALS}): choose fewer "
                   "values or seeds, use random draws, or run it with `tlcore sweep`.", icon=":material/warning:")
        return

    def record(ids: list[str]) -> None:
        st.session_state[f"{K}_submitted"] = (spec, cfgs)
        get_store().add_sweep(spec.sweep_id(), spec.to_dict(), ids)

    def draw(recs, finished: bool) -> None:
        # the live view is of this session's submission (as the other tabs'), whatever the
        # widgets say now; without one, of the stored trials of the sweep the widgets describe
        shown = st.session_state.get(f"{K}_submitted") if st.session_state.get(f"{K}_ids") else None
        _draw(*(shown or (spec, cfgs)))(recs, finished)

    if not run_grid(f"Run the sweep ({len(cfgs)} trials)", cfgs, K, draw, on_submit=record):
        st.caption("Not run yet.")
    past_sweeps()


PAST = 30  # past sweeps offered, newest first


def _sweep_words(spec: dict, created: float, n: int) -> str:
    base = spec.get("base", {})
    dims = ", ".join(d.get("name", "?") for d in spec.get("dims", [])) or "seeds only"
    when = time.strftime("%d %b %H:%M", time.localtime(created))
    return (f"{when} · {title(base.get('strategy', '?'))} · {base.get('backbone', '?')} on "
            f"{domain_label(base.get('dataset', '?'))} · {spec.get('search', 'grid')} over {dims} · {n} trials")


def past_sweeps() -> None:
    """Sweeps stored here whose trials this workspace lists (this tab's and ``tlcore
    sweep``'s, grid, random or TPE): their plot and table again, from the stored runs."""
    store = get_store()
    past = store.sweeps(ws=workspace.scope(), limit=PAST)
    st.subheader("Past sweeps")
    if not past:
        st.caption(f"No sweeps {workspace.scope_words()} yet: the ones run here or with `tlcore sweep` "
                   "show here afterwards.")
        return
    specs = {sid: spec for sid, spec, _, _ in past}
    words = {sid: _sweep_words(spec, created, n) for sid, spec, created, n in past}
    sid = st.selectbox("Sweep", list(words), index=None, format_func=words.get, key=f"{K}_past",
                       placeholder=f"{len(past)} sweep{'s' if len(past) > 1 else ''} "
                                   f"{workspace.scope_words().replace('`', '')}: pick one to see its trials")
    if sid is None:
        return
    spec_d, ids = specs[sid], store.sweep(sid)[1]  # the picked sweep's trials alone
    try:
        spec = SweepSpec.from_dict(spec_d)
    except (KeyError, TypeError, ValueError) as e:  # a sweep stored by another version of the lab
        st.warning(f"This sweep's record cannot be read here ({e}).", icon=":material/warning:")
        return
    recs = [r for r in (store.get(i) for i in ids) if r is not None]  # with epochs: some metrics read them
    waiting = sum(r.status not in FINAL for r in recs)
    st.caption(f"Sweep `{sid}`: {len(recs)} of {len(ids)} trials in the store"
               + (f", {waiting} still queued or training (they show when you open it again)" if waiting else "")
               + f"; ranked by {spec.metric}.")
    _draw(spec, [r.config for r in recs], key=f"{K}_past")(recs, not waiting)
