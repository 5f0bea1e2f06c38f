"""A strategy is its freeze schedule (a ``Phase`` per epoch), its settings, and, optionally,
its own loss per training step.

Adding one is one file in this folder: a ``Strategy`` subclass that declares its ``knobs``
and registers an instance with ``STRATEGIES.add(...)``. The package imports every module
here, and the trainer, Train page, CLI and link state read the declarations, so nothing
else is edited.

The trainer and a strategy meet in two places: ``phase`` (which groups train in an epoch,
at what learning-rate scale) and ``loss`` (one batch's loss, given a ``StepContext``).
Strategies that see unlabelled target batches subclass ``AdaptationStrategy``
(``adaptation.py``), which owns that extra work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from tlcore.config import RunConfig
from tlcore.freeze import Phase
from tlcore.registry import Registry

from .knobs import Knob


@dataclass
class StepContext:
    """What a strategy's ``loss`` may use in one training step. Built by the trainer once
    per run; ``k`` and ``progress`` change as it goes.

    ``k``: the frozen-prefix cut (batches are outputs of groups ``:k``, 0 = raw inputs).
    ``progress``: the share of all steps done, in [0, 1). ``gen``: the run's seeded
    generator, for any randomness a step draws (so runs stay deterministic).
    ``aux`` and ``target_pool`` are what ``Strategy.setup`` put there (a discriminator,
    unlabelled target images as uint8); ``target_at_cut`` caches that pool's outputs of the
    frozen prefix."""

    net: nn.Module
    cfg: RunConfig
    device: torch.device
    gen: torch.Generator
    preprocess: object
    k: int = 0
    progress: float = 0.0
    aux: nn.Module | None = None
    target_pool: torch.Tensor | None = None
    target_at_cut: tuple[int, torch.Tensor] | None = None  # (k, the pool through groups :k)


@dataclass(frozen=True)
class Strategy:
    name: str
    title: str
    description: str
    pretrained: bool = True  # False: the backbone starts from a random init
    requires_target: bool = False  # needs a target domain (to score on, adapt to, or train on)
    uses_unlabelled_target: bool = False  # sees unlabelled target batches while training
    train_on_target: bool = False  # the oracle: trains on labelled target images
    order: int = 100  # place in listings (pickers, CLI), lowest first
    # label-free criteria (tlcore.transfer.criteria) this strategy's loss drives down or up on
    # the target: such a criterion cannot pick it (its value says what was trained, not how
    # right the predictions are)
    optimises: tuple[str, ...] = ()

    knobs: ClassVar[tuple[Knob, ...]] = ()  # the settings this strategy reads (knobs.py)

    # ---- what a strategy defines -------------------------------------------------------
    def phase(self, groups: list[str], cfg: RunConfig, epoch: int) -> Phase:
        raise NotImplementedError

    def prepare_net(self, net: nn.Module, cfg: RunConfig) -> None:
        """Change the built network before training (after the new head is in place), e.g.
        re-initialise the groups above a cut point. Must leave every group this strategy
        ever freezes untouched: the trainer caches a frozen prefix's outputs under a key that
        names the backbone's weights, not this change."""

    def setup(self, ctx: StepContext, data) -> None:
        """Per-run state for ``loss`` (``ctx.aux`` modules train at ``cfg.lr``); ``data`` is the
        run's ``RunData``. Called once, after ``prepare_net``."""

    def loss(self, ctx: StepContext, xb: torch.Tensor, yb: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """One batch: (loss to minimise, source logits, numbers to average into the epoch's
        history). ``xb`` are inputs at cut ``ctx.k`` on ``ctx.device``."""
        logits = ctx.net.head(ctx.net.forward_features(xb, ctx.k))
        return F.cross_entropy(logits, yb), logits, {}

    def before_target(self, ctx: StepContext, data) -> None:
        """After training and the source test scores, before the target's: a last change for
        the target (AdaBN re-estimates BatchNorm statistics there). ``data``: the ``RunData``.
        Setting ``ctx.k = 0`` scores the target through every group, not the cached prefix."""

    def weights(self, cfg: RunConfig) -> str | None:
        return cfg.weights if self.pretrained else "none"

    # ---- the knobs, read and checked ---------------------------------------------------
    def knob(self, name: str) -> Knob:
        for k in self.knobs:
            if k.name == name:
                return k
        raise KeyError(f"{self.name} has no setting {name!r}; it has: {_names(self.knobs)}")

    def value(self, cfg: RunConfig, name: str):
        """A knob's value in ``cfg`` (its default when unset), as the knob's kind."""
        return self.knob(name).read(cfg)

    def check(self, cfg: RunConfig, groups: list[str] | None = None) -> None:
        """Refuse settings this strategy does not have and values out of their range
        (``groups``: the backbone's, for knobs that count body groups)."""
        own = {k.name for k in self.knobs}
        unknown = sorted(name for name, _ in cfg.extra if name not in own)
        if unknown:
            raise ValueError(f"{self.title} has no setting {', '.join(unknown)}; "
                             f"its settings: {_names(self.knobs)}")
        n = len(body(groups)) if groups is not None else None
        for k in self.knobs:
            k.check(k.raw(cfg), n)

    def own_settings(self, cfg: RunConfig) -> RunConfig:
        """``cfg`` for this strategy, keeping only the ``extra`` settings it declares (a grid
        that sets DANN's weight gives the other methods' runs their plain ids)."""
        own = {k.name for k in self.knobs}
        return cfg.replace(strategy=self.name, extra=tuple(p for p in cfg.extra if p[0] in own))


STRATEGIES: Registry[Strategy] = Registry("strategy")


def title(name: str) -> str:
    """A strategy's display title; an unregistered name (from an old store) as it is."""
    return STRATEGIES.get(name).title if name in STRATEGIES else name


def body(groups: list[str]) -> list[str]:
    return [g for g in groups if g != "head"]


def _names(knobs: tuple[Knob, ...]) -> str:
    return ", ".join(k.name for k in knobs) or "(none)"
