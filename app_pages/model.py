"""Model: the backbone, its weights and input size, which layer groups train (the freeze
plan) and at what learning rate, and a measured estimate of how long a run takes here."""

from __future__ import annotations

import streamlit as st

from tlcore import plots
from tlcore.config import BN_POLICIES
from tlcore.estimate import (
    estimate_track_record,
    fit_to_backbone,
    plan,
    timing_key,
    track_record_text,
)
from tlcore.jobs import estimate_run
from tlcore.models import BACKBONES
from tlcore.strategies import STRATEGIES
from tlcore.strategies.knobs import changes
from ui.knobs import knob_input
from ui.pickers import bind, layer_table, setter, show_errors
from ui.state import get_setup, set_setup, show_notices, widget_callback
from ui.store import get_store

PRESETS = ["feature_extraction", "finetune_top", "finetune_all", "custom"]
SIZES = [32, 64, 96, 128, 224]
MULTS = [0.0, 0.01, 0.03, 0.1, 0.3, 1.0]


@st.cache_data(show_spinner="Building the network…", max_entries=64)
def _plan(key):
    """Keyed by ``timing_key(cfg)``: learning rates, seed and weights do not change it."""
    return plan(key)


@st.cache_data(show_spinner=False, max_entries=64)
def _estimate(key):
    """What the worker will record for this run too (``tlcore.jobs.estimate_run``)."""
    return estimate_run(get_store(), key)


def _why_missing(backbone: str, weights: str) -> str:
    a = BACKBONES.get(backbone).weights[weights].check()
    return "" if a.available else a.reason


def _bb_label(name: str) -> str:
    spec = BACKBONES.get(name)
    return spec.title + (" · weights missing" if _why_missing(name, spec.default_weights) else "")


@widget_callback
def _on_backbone() -> None:
    """A new backbone starts from its own default weights and size; custom groups and LR
    overrides it does not have are dropped."""
    cfg = get_setup().replace(backbone=st.session_state["model_bb"], weights=None, input_size=None)
    names = [g.name for g in _plan(timing_key(cfg.replace(strategy="feature_extraction"))).groups]
    set_setup(fit_to_backbone(cfg, names))


@widget_callback
def _on_preset() -> None:
    cfg, v = get_setup(), st.session_state["model_preset"]
    groups = None
    if v == "custom":  # keep what trains now, as toggles to edit
        groups = tuple(g for g in _plan(timing_key(cfg)).phases[0].trainable if g != "head")
    set_setup(cfg.replace(strategy=v, trainable_groups=groups))


def _secs(s: float) -> str:
    return f"about {s:.0f} s" if s < 90 else f"about {s / 60:.1f} min"


st.title("Model")
show_notices()
show_errors()
st.markdown("Pick a pretrained **backbone**, then decide which of its layer groups keep their "
            "pretrained values (**frozen**) and which learn on your data (**trainable**). Early "
            "groups detect generic edges and strokes; late groups are specific to the source task.")
cfg = get_setup()
spec = BACKBONES.get(cfg.backbone)
wname = cfg.weights or spec.default_weights

c1, c2, c3 = st.columns([3, 3, 2])
bind("model_bb", cfg.backbone)
c1.selectbox("Backbone", BACKBONES.names(), format_func=_bb_label, key="model_bb", on_change=_on_backbone,
             help="Lab models: small CNNs pretrained here, fast on a laptop. torchvision: ImageNet models.")
c1.caption(spec.description)
bind("model_w", wname)
c2.selectbox("Weights", list(spec.weights), key="model_w", format_func=lambda w: spec.weights[w].title
             + (" · missing" if _why_missing(spec.name, w) else ""),
             on_change=setter("model_w", lambda v: {"weights": None if v == spec.default_weights else v}))
w = spec.weights.get(wname)
if w is not None and w.pretrained:
    c2.caption(f"{w.source}. Licence: {w.licence}.")
if "lab" in spec.tags:
    c3.markdown(f"**Input size**  \n{spec.default_size}×{spec.default_size} px (fixed: lab models are built for it)")
else:
    bind("model_size", cfg.input_size or spec.default_size)
    c3.select_slider("Input size (px)", sorted({*SIZES, cfg.input_size or spec.default_size}), key="model_size",
                     on_change=setter("model_size", lambda v: {"input_size": None if v == spec.default_size else v}),
                     help=f"Trained at {spec.native_size} px. Time grows with the pixel count: "
                          "224 px is about 12× slower than 64 px.")
why = _why_missing(spec.name, wname) if w is not None else f"{spec.name} has no weights {wname!r}"
if why:
    st.error(f"**These weights are not available**: {why}. Runs with this setup stop with this message; "
             "they never fall back to random weights. Pick *random init* to train from scratch on purpose.",
             icon=":material/cloud_off:")
elif not w.pretrained:
    st.warning("**Random init**: nothing is transferred. This is the from-scratch baseline that "
               "pretraining has to beat.", icon=":material/casino:")

st.subheader("Which layers train")
try:
    p = _plan(timing_key(cfg))
except ValueError as e:
    st.error(f"This freeze plan is not valid: {e}")
    st.stop()
presets = PRESETS + ([cfg.strategy] if cfg.strategy not in PRESETS else [])
bind("model_preset", cfg.strategy)
st.radio("Freeze plan", presets, key="model_preset", horizontal=True, on_change=_on_preset,
         format_func=lambda s: STRATEGIES.get(s).title + ("" if s in PRESETS else " (set on the Train page)"))
body = [g.name for g in p.groups if g.name != "head"]
for knob in STRATEGIES.get(cfg.strategy).knobs:  # the plan's own settings, as its file declares them
    key = bind(f"model_knob_{knob.name}", knob.clip(min(knob.raw(cfg), len(body) if knob.groups else knob.high)))
    knob_input(knob, key, n_groups=len(body),
               on_change=setter(key, lambda v, knob=knob: changes(get_setup(), knob, v)))
st.caption(STRATEGIES.get(cfg.strategy).description + " Tick groups in the table for a custom plan.")

first = p.phases[0]
layer_table(cfg, p, key="model_groups")

m1, m2, m3 = st.columns(3)
m1.metric("Trainable parameters", f"{first.trainable_params:,}", help="Parameters the optimizer updates "
          "(first epoch); the head always trains.")
m2.metric("Of all parameters", f"{first.trainable_params / p.total_params:.1%}", help=f"{p.total_params:,} in all")
m3.metric("Groups computed once", f"{first.frozen_prefix} of {len(body)}", help="The fast path: frozen "
          "leading groups run once per image, then each step runs only the rest.")
if first.trainable_params == 0:
    st.error("Nothing would train: this plan freezes every parameter, the head included.")
elif first.trainable == ("head",) and len(p.phases) == 1:
    st.info("Only the new head trains: every backbone group is frozen, which is feature extraction.",
            icon=":material/info:")
if len(p.phases) > 1:
    st.caption("This strategy changes the plan during the run: " + "; ".join(
        f"epochs {ph.first_epoch}–{ph.last_epoch}: {ph.description} ({ph.trainable_params:,} parameters)"
        for ph in p.phases) + ".")

c1, c2 = st.columns([3, 2])
if cfg.strategy not in ("finetune_all", "scratch"):  # these train every group fully, all run long
    bind("model_bn", cfg.bn_policy)
    c1.radio("BatchNorm in frozen groups", list(BN_POLICIES), key="model_bn",
             captions=list(BN_POLICIES.values()), on_change=setter("model_bn", lambda v: {"bn_policy": v}))
else:
    c1.caption("Every group trains in every epoch, so there is no frozen group whose BatchNorm "
               "could be kept fixed: the BatchNorm policy does not apply to this plan.")
bind("model_blr", cfg.backbone_lr_mult)
c2.select_slider("Backbone LR multiplier", sorted({*MULTS, cfg.backbone_lr_mult}), key="model_blr",
                 format_func=lambda v: f"× {v:g}", on_change=setter("model_blr", lambda v: {"backbone_lr_mult": v}),
                 help="Trainable backbone groups learn at the head's LR times this (discriminative "
                      "fine-tuning), unless the table sets a group's own multiplier.")
c2.caption(f"Head LR {cfg.lr:g} (set on the Train page) → backbone groups at {cfg.lr * cfg.backbone_lr_mult:g}.")

st.subheader("How long will a run take here?")
try:
    with st.spinner("Timing a few training steps on this machine…"):
        est = _estimate(timing_key(cfg))
except (ValueError, RuntimeError) as e:
    st.error(f"Could not time this setup: {e}")
else:
    e1, e2 = st.columns([1, 3])
    e1.metric("Estimated run time", _secs(est.seconds), help="Measured: a few real training steps on a "
              "random batch at this size and freeze plan, scaled to the whole run.")
    e2.plotly_chart(plots.time_parts(est.parts), key="model_time", config={"displayModeBar": False})
    d = est.details
    e1.caption(f"{d['epochs']} epochs × {d['steps per epoch']} steps on {d['train images']:,} images. "
               "Excludes loading the data the first time; repeats of a pretrained run reuse cached features.")
    # how good past estimates were (each run the worker finished stores its own): the newest
    # 500 of the server's, so a page costs the same with 100,000 runs stored
    st.caption(track_record_text(estimate_track_record(get_store().list("done", limit=500, newest=True))))
