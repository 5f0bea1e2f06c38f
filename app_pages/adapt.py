"""Domain adaptation: one source -> target pair, source-only against every adaptation method and
the oracle, what the label-free criteria say, and auto's pick."""

from __future__ import annotations

import streamlit as st

from tlcore.names import domain_label
from tlcore.presets import setting
from tlcore.strategies import STRATEGIES, title
from tlcore.strategies.knobs import with_value
from tlcore.transfer import adapt_study as da
from tlcore.transfer import criteria_study as cs
from ui import adapt_view as view
from ui.pairs import pair_check
from ui.pickers import dataset_options, domain_picker, show_errors
from ui.presets import preset_button
from ui.runview import live
from ui.state import get_setup, set_setup, show_notices
from ui.store import stored_ids, submit

st.title("Domain adaptation")
show_notices()
show_errors()
st.markdown(
    "A model trained on labelled **source** images is tested on a **target** domain with the same "
    "classes but another look. *Source only* ignores the target; **DANN** (Ganin et al. 2016) adds a "
    "domain discriminator behind a gradient-reversal layer so the features stop telling the domains "
    "apart; **CDAN+E** conditions that discriminator on the predictions; **Deep CORAL** matches the "
    "features' covariances; **MCC** lowers the confusion between classes on the target; **AdaBN** only "
    "re-estimates BatchNorm statistics on target images. All see target images but never their labels. "
    "The *target oracle* trains on labelled target images: the ceiling.")

cfg = get_setup()
if not cfg.target:
    st.info("Adaptation needs a target domain. Pick one below, or start from the classic pair.",
            icon=":material/info:")
preset_button("Use the MNIST → MNIST-M reproduction setting", setting(da.DEFAULT), "da_classic",
              icon=":material/restart_alt:", help="Lists what it changes first; your seed and "
              "strategy stay (the methods are picked below).")

options = dataset_options(cfg)
src, tgt = st.columns(2)
with src.container(border=True):
    st.markdown("**Source**: labelled")
    domain_picker("da_src", "dataset", cfg.dataset, options, domain_label)
with tgt.container(border=True):
    st.markdown("**Target**: unlabelled for DANN and CORAL")
    domain_picker("da_tgt", "target", cfg.target or "mnist_m", options, domain_label)
cfg = get_setup()
if not cfg.target:
    st.stop()

c1, c2, c3, c4 = st.columns(4)
methods = c1.multiselect("Methods", list(da.METHODS), default=list(da.METHODS), format_func=title,
                         key="da_methods")
seeds = c2.multiselect("Seeds", list(range(5)), default=[cfg.seed], key="da_seeds",
                       help="Adaptation is noisy: three seeds give a mean worth quoting.")
epochs = c3.slider("Epochs", 1, 30, cfg.epochs, key="da_epochs")
dann = STRATEGIES.get("dann")
weight_knob, weight_now = dann.knob("dann_weight"), dann.value(cfg, "dann_weight")
weight = c4.select_slider("DANN strength (λ scale)", sorted({0.1, 0.3, 1.0, 3.0, weight_now}),
                          value=weight_now, key="da_weight",
                          help="Multiplies Ganin's schedule 2/(1+exp(-10p))-1 of the reversed gradient.")
# the default is left out of the config, so run ids match runs made without the knob
cfg = view.own_folders(with_value(cfg, weight_knob, weight).replace(epochs=epochs))
st.caption(f"Backbone `{cfg.backbone}`, {cfg.labels_per_class or 'all'} labels per class, batch "
           f"{cfg.batch_size}, {cfg.optimizer} at {cfg.lr:g} (change these on the Model and Train pages).")
ok = pair_check(cfg)

configs = da.study_configs(cfg, methods, seeds) if methods and seeds else []
if st.button(f"Run {len(configs)} runs", type="primary", disabled=not configs or not ok, icon=":material/play_arrow:",
             key="da_run"):
    set_setup(cfg.replace(strategy="dann"))
    st.session_state["da_ids"] = submit(configs)
ids = st.session_state.get("da_ids") or stored_ids(configs)
if ids:
    live(ids, key="da", metric="target_acc", on_done=view.results)
elif ok:
    st.caption("No runs for this setting yet: press Run. Finished runs are stored, so they come back "
               "when you return to this setting.")

st.subheader("Or let auto pick, without target labels")
auto = cs.auto_configs(cfg)
st.markdown(f"**auto** trains {len(cs.CANDIDATES)} candidates on seed {cfg.seed} (source only, DANN at three "
            "strengths, CDAN+E, Deep CORAL, MCC and AdaBN) with the settings above, then keeps the one the "
            "criterion trusted by the recorded study ranks first. It reads no target label: what you can "
            "do when your target has none. Each candidate is a full run of these settings, so it takes "
            f"about {len(cs.CANDIDATES)} times as long as one. (`tlcore run --strategy auto` on the command line.)")
if st.button(f"Let auto pick ({len(auto)} runs)", disabled=not ok, icon=":material/auto_awesome:",
             key="da_auto_run"):
    st.session_state["da_auto_ids"] = submit(auto)
want = [c.run_id() for c in auto]  # shown once all are queued or stored: a pick among some would mislead
if want and (st.session_state.get("da_auto_ids") == want or len(stored_ids(auto)) == len(want)):
    live(want, key="da_auto", metric="target_acc", on_done=view.auto_result)

st.subheader("Reproduction in miniature")
st.markdown("Recorded with the command shown, on the machine shown; the same command reruns them "
            "(stored runs are reused).")
view.recorded()
