"""Train: strategy and hyper-parameters, queue one or several runs, watch them live."""

from __future__ import annotations

import streamlit as st

from tlcore.config import RunConfig
from tlcore.models import build_backbone
from tlcore.optim import OPTIMIZERS
from tlcore.preview import run_budget
from tlcore.strategies import STRATEGIES
from tlcore.strategies.knobs import with_value
from ui.history_view import history
from ui.knobs import knob_input
from ui.pairs import pair_check
from ui.runview import live
from ui.state import get_setup, set_setup, show_notices
from ui.store import submit


@st.cache_data(max_entries=32, show_spinner=False)
def _budget(dataset: str, labels: int | None, val: int, test: int, seed: int):
    """Whether the label budget fits the source (None: the data cannot be loaded; the run
    itself will then say why)."""
    try:
        return run_budget(RunConfig(dataset=dataset, labels_per_class=labels, val_per_class=val,
                                    test_per_class=test, seed=seed))
    except (ValueError, KeyError, OSError, RuntimeError):
        return None


@st.cache_data(max_entries=32, show_spinner=False)
def _body_groups(backbone: str) -> int | None:
    """How many layer groups below the head ``backbone`` has (None: it cannot be built here)."""
    try:  # random init: the groups are the architecture's, no weights need loading
        return len(build_backbone(backbone, weights="none").net.group_names) - 1
    except (KeyError, ValueError, OSError, RuntimeError):
        return None


st.title("Train")
show_notices()
cfg = get_setup()

names = [n for n in STRATEGIES.names() if cfg.target or not STRATEGIES.get(n).requires_target]
fallback = "feature_extraction"  # a strategy that needs a target, without one: the plain default
if cfg.strategy not in names:
    st.caption(f"{STRATEGIES.get(cfg.strategy).title if cfg.strategy in STRATEGIES else cfg.strategy} "
               f"needs a target domain (set one on the Data page), so {STRATEGIES.get(fallback).title} "
               "is picked instead.")
c1, c2 = st.columns(2)
with c1:
    chosen = st.multiselect(
        "Strategies", names, default=[cfg.strategy] if cfg.strategy in names else [fallback],
        format_func=lambda n: STRATEGIES.get(n).title, key="train_strategies",
        help="Pick several to queue them side by side on the same data and seed.")
    for n in chosen:
        st.caption(f"**{STRATEGIES.get(n).title}**: {STRATEGIES.get(n).description}")
    seeds = st.multiselect("Seeds", list(range(10)), default=[cfg.seed], key="train_seeds",
                           help="Several seeds give a mean and a band on the Compare page.")
with c2:
    epochs = st.slider("Epochs", 1, 50, cfg.epochs, key="train_epochs")
    lr = st.select_slider("Head learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
                          value=cfg.lr if cfg.lr in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1) else 1e-2,
                          key="train_lr", format_func=lambda v: f"{v:g}")
    batch = st.select_slider("Batch size", [8, 16, 32, 64, 128, 256], value=cfg.batch_size
                             if cfg.batch_size in (8, 16, 32, 64, 128, 256) else 16, key="train_batch")
    names_opt = list(OPTIMIZERS)
    opt = st.radio("Optimizer", names_opt, index=names_opt.index(cfg.optimizer), horizontal=True,
                   key="train_opt", help="; ".join(o.help for o in OPTIMIZERS.values()))
    # each chosen strategy's own settings, as its file declares them (a setting two strategies
    # share, such as DANN's and CORAL's target pool, is drawn once)
    n_groups = _body_groups(cfg.backbone)
    new = cfg
    drawn: set[str] = set()
    for n in chosen:
        for knob in STRATEGIES.get(n).knobs:
            if knob.name not in drawn:
                drawn.add(knob.name)
                value = knob_input(knob, f"train_knob_{knob.name}", knob.raw(cfg), n_groups=n_groups,
                                   label=f"{STRATEGIES.get(n).title}: {knob.title}")
                new = with_value(new, knob, value)

new = new.replace(epochs=epochs, lr=lr, batch_size=batch, optimizer=opt,
                  strategy=chosen[0] if chosen else cfg.strategy, seed=seeds[0] if seeds else cfg.seed)
if new != cfg:
    set_setup(new)

if "custom" in chosen and not cfg.trainable_groups:
    st.info("The custom strategy trains the groups you toggle on the Model page; none are toggled, "
            "so it will train only the head.", icon=":material/info:")
# every run keeps only its own strategy's settings, so it has the id it would have alone
configs = [STRATEGIES.get(s).own_settings(new).replace(seed=sd) for s in chosen for sd in seeds]
label = f"Queue {len(configs)} run{'s' if len(configs) != 1 else ''}"
budget = _budget(new.dataset, new.labels_per_class, new.val_per_class, new.test_per_class, new.seed)
if budget is not None and not budget.fits:
    st.warning(f"Cannot queue: {budget.message[0].lower() + budget.message[1:]}. Change the label budget "
               "on the Data page.", icon=":material/block:")
pair_ok = pair_check(new)  # a target whose classes are not the source's: said before queueing
if st.button(label, type="primary", disabled=not configs or not pair_ok or (budget is not None and not budget.fits),
             icon=":material/queue:", key="train_queue"):
    st.session_state["train_ids"] = submit(configs)
    st.toast(f"Queued {len(configs)} runs; stored results are reused at once.")
if not configs:
    st.warning("Pick at least one strategy and one seed.")

ids = st.session_state.get("train_ids", [])
if ids:
    st.subheader("This session's runs")
    live(ids, key="train")

st.subheader("History")
history()
