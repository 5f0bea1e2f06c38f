"""What the transfer-learning workflow diagram says about the current setup.

Home draws the workflow (source data -> pretrained backbone -> frozen / trainable groups
-> new head -> your data -> trained model -> predictions and export) with the setup's own
choices written into its boxes. This module decides those words, from the engine's own
answers: the freeze plan is ``tlcore.estimate.plan`` (the one the Model page shows and the
trainer follows), what a group trains comes from the strategy's ``Phase``, and the source
data from the backbone's registry entry. Drawing them (SVG, links) is ``ui.workflow``.

Nothing here trains, loads images or builds a network: a page can call it on every rerun.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlcore.config import RunConfig
from tlcore.estimate import Plan
from tlcore.models import BACKBONES
from tlcore.models.lab import LAB_SOURCES
from tlcore.names import domain_label
from tlcore.strategies import STRATEGIES

STEPS = ("source", "backbone", "groups", "head", "data", "model", "use")
TITLES = dict(
    zip(
        STEPS,
        (
            "Source data",
            "Pretrained backbone",
            "Layer groups",
            "New head",
            "Your data",
            "Trained model",
            "Predictions & export",
        ),
        strict=True,
    )
)
PART = {"bias": "biases train", "bn": "BatchNorm trains", "all": "BN scale/shift train"}


@dataclass(frozen=True)
class GroupState:
    """One body group of the backbone under the setup's freeze plan.

    ``state``: "frozen" (keeps its pretrained values the whole run), "trains" (every
    parameter, from epoch 1), "partly" (only biases or BatchNorm parameters) or "later"
    (frozen at first, trains from ``first_epoch`` on: gradual unfreezing, LP-FT)."""

    name: str
    params: int
    state: str
    note: str
    first_epoch: int | None = None  # 1-based epoch it starts training; None: never


@dataclass(frozen=True)
class Step:
    """One box: a title and a few short lines, most important first (a box too small
    for all drops the last). ``alert``: a problem to see before running (missing weights,
    an invalid plan), drawn first and in red. ``off``: a step this setup skips (no
    pretraining when training from scratch)."""

    title: str
    lines: tuple[str, ...]
    alert: str = ""
    off: bool = False


@dataclass(frozen=True)
class Workflow:
    steps: dict[str, Step]  # keyed by ``STEPS``
    groups: tuple[GroupState, ...]  # empty when the plan could not be made


def group_states(cfg: RunConfig, plan: Plan) -> tuple[GroupState, ...]:
    """Each body group's role over the whole run, read from the plan's phases: the first
    phase in which the group has trainable parameters, and whether that phase trains the
    group fully or only its biases / BatchNorm (BitFit, BN-only, a BN policy)."""
    strategy = STRATEGIES.get(cfg.strategy)
    names = [g.name for g in plan.groups]
    out = []
    for g in plan.groups:
        if g.name == "head":
            continue
        first = next((ph for ph in plan.phases if g.name in ph.trainable), None)
        if first is None:
            out.append(GroupState(g.name, g.params, "frozen", "frozen"))
            continue
        phase = strategy.phase(names, cfg, first.first_epoch - 1)
        full = phase.only == "all" and g.name in phase.trainable
        what = "trains" if full else PART[phase.only]
        if first.first_epoch > 1:
            state, note = "later", f"trains from epoch {first.first_epoch}"
        else:
            state, note = ("trains" if full else "partly"), what
        out.append(GroupState(g.name, g.params, state, note, first.first_epoch))
    return tuple(out)


def _source(cfg: RunConfig) -> Step:
    """Where the backbone's pretrained values come from (or that none are used)."""
    spec = BACKBONES.get(cfg.backbone)
    wname = STRATEGIES.get(cfg.strategy).weights(cfg) or spec.default_weights
    w = spec.weights.get(wname)
    if w is None:
        return Step("Source data", (), alert=f"{spec.name} has no weights named {wname!r}")
    if not w.pretrained:
        text = "not used: training starts from random values, nothing is transferred"
        return Step("Source data", (text,), off=True)
    src = LAB_SOURCES.get(cfg.backbone)
    lines = (src.title, f"dataset {src.dataset}") if src else (w.title,)
    missing = "" if w.check().available else "weights not on this machine: runs will stop"
    return Step("Source data", (*lines, "pretrained the backbone"), alert=missing)


def _backbone(
    cfg: RunConfig, plan: Plan | None, groups: tuple[GroupState, ...], pretrained: bool
) -> Step:
    spec = BACKBONES.get(cfg.backbone)
    lines = [spec.description]
    if plan is not None:
        first = plan.phases[0]
        lines.append(
            f"{plan.total_params:,} parameters; {first.trainable_params:,} "
            f"({first.trainable_params / plan.total_params:.1%}) train in epoch 1"
        )
    if plan is None or any(g.state != "trains" for g in groups):
        lines.append(f"BatchNorm in frozen groups: {cfg.bn_policy}")
    title = (
        f"Pretrained backbone: {cfg.backbone}"
        if pretrained
        else f"Backbone: {cfg.backbone}, random init"
    )
    return Step(title, tuple(lines))


def _head(cfg: RunConfig, plan: Plan | None) -> Step:
    if plan is None:
        return Step("New head", ("a new linear layer", "for your classes", "always trains"))
    head = plan.groups[-1]
    features = plan.groups[-2].output_shape[-1] if len(plan.groups) > 1 else "?"
    return Step(
        "New head",
        (
            f"Linear {features} → {plan.num_classes}",
            f"{head.params:,} new parameters",
            "always trains",
        ),
    )


def _data(cfg: RunConfig, plan: Plan | None) -> Step:
    """The new task's data and label budget, and the target domain when there is one."""
    strategy = STRATEGIES.get(cfg.strategy)
    budget = (
        "every training image labelled"
        if cfg.labels_per_class is None
        else f"{cfg.labels_per_class} labels per class"
    )
    lines = [f"{domain_label(cfg.dataset)} · {budget}"]
    if plan is not None and cfg.labels_per_class is not None:
        lines.append(
            f"{plan.num_classes} classes → {cfg.labels_per_class * plan.num_classes:,} "
            "labelled training images"
        )
    if cfg.target:
        role = (
            "the oracle trains on its labels"
            if strategy.train_on_target
            else "its unlabelled images adapt the features"
            if strategy.uses_unlabelled_target
            else "scored on, never trained on"
        )
        lines.append(f"target {domain_label(cfg.target)}: {role}")
    lines.append(f"held out per class: {cfg.val_per_class} validation, {cfg.test_per_class} test")
    alert = (
        f"{strategy.title} needs a target domain"
        if strategy.requires_target and not cfg.target
        else ""
    )
    return Step("Your data", tuple(lines), alert=alert)


def _model(cfg: RunConfig, trained: bool) -> Step:
    status = "trained: stored with its run" if trained else "not trained yet"
    return Step(
        "Trained model",
        (
            STRATEGIES.get(cfg.strategy).title,
            f"{cfg.epochs} epochs · LR {cfg.lr:g} · seed {cfg.seed}",
            status,
        ),
    )


def workflow(
    cfg: RunConfig, plan: Plan | None, plan_error: str = "", trained: bool = False
) -> Workflow:
    """The diagram's words for ``cfg``. ``plan`` is ``estimate.plan(cfg)`` (``None`` with
    ``plan_error`` when it failed: the groups box then says why); ``trained``: whether the
    store holds this setup's trained model."""
    unknown = [
        f"unknown {kind} {name!r}"
        for kind, name, known in (
            ("backbone", cfg.backbone, BACKBONES),
            ("strategy", cfg.strategy, STRATEGIES),
        )
        if name not in known
    ]
    if unknown:  # a hand-edited link: say so in every box rather than fail
        return Workflow({k: Step(TITLES[k], (), alert="; ".join(unknown)) for k in STEPS}, ())
    groups = group_states(cfg, plan) if plan is not None else ()
    if plan is None:
        alert = f"could not be listed: {plan_error or 'unknown error'}"
        group_step = Step("Layer groups", (), alert=alert)
    else:
        n_frozen = sum(g.state == "frozen" for g in groups)
        group_step = Step("Layer groups", (f"{n_frozen} of {len(groups)} stay frozen",))
    source = _source(cfg)
    steps = {
        "source": source,
        "backbone": _backbone(cfg, plan, groups, not source.off),
        "groups": group_step,
        "head": _head(cfg, plan),
        "data": _data(cfg, plan),
        "model": _model(cfg, trained),
        "use": Step(TITLES["use"], ("classify new images", "export the model")),
    }
    return Workflow(steps, groups)
