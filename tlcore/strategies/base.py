"""A strategy is its freeze schedule (a ``Phase`` per epoch) plus, optionally, its own loss.

Adding one is one file with one registered class; the trainer is shared.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tlcore.config import RunConfig
from tlcore.freeze import Phase
from tlcore.registry import Registry


@dataclass(frozen=True)
class Strategy:
    name: str
    title: str
    description: str
    pretrained: bool = True  # False: the backbone starts from a random init
    requires_target: bool = False  # needs a target domain (to score on, adapt to, or train on)
    uses_unlabelled_target: bool = False  # sees unlabelled target batches while training
    train_on_target: bool = False  # the oracle: trains on labelled target images

    def phase(self, groups: list[str], cfg: RunConfig, epoch: int) -> Phase:
        raise NotImplementedError

    def build_aux(self, feature_dim: int, cfg: RunConfig) -> nn.Module | None:
        """Extra trainable modules (e.g. DANN's domain discriminator), trained at ``cfg.lr``."""
        return None

    def adapt_loss(self, aux: nn.Module | None, fs: torch.Tensor, ft: torch.Tensor, progress: float,
                   cfg: RunConfig) -> tuple[torch.Tensor, dict[str, float]]:
        """The adaptation term added to the source classification loss.

        ``fs``/``ft``: source / target features ``[B, D]`` of one step; ``progress`` in [0, 1].
        Returns the loss and per-step numbers to average into the epoch's history."""
        raise NotImplementedError

    def prepare_net(self, net: nn.Module, cfg: RunConfig) -> None:
        """Change the built network before training (after the new head is in place), e.g.
        re-initialise the groups above a cut point. Must leave every group this strategy
        ever freezes untouched: the trainer caches a frozen prefix's outputs under a key that
        names the backbone's weights, not this change."""

    def weights(self, cfg: RunConfig) -> str | None:
        return cfg.weights if self.pretrained else "none"


STRATEGIES: Registry[Strategy] = Registry("strategy")


def title(name: str) -> str:
    """A strategy's display title; an unregistered name (from an old store) as it is."""
    return STRATEGIES.get(name).title if name in STRATEGIES else name


def body(groups: list[str]) -> list[str]:
    return [g for g in groups if g != "head"]
