"""A strategy is its freeze schedule (a ``Phase`` per epoch) plus, optionally, its own loss.

Adding one is one file with one registered class; the trainer is shared.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlcore.config import RunConfig
from tlcore.freeze import Phase
from tlcore.registry import Registry


@dataclass(frozen=True)
class Strategy:
    name: str
    title: str
    description: str
    pretrained: bool = True  # False: the backbone starts from a random init

    def phase(self, groups: list[str], cfg: RunConfig, epoch: int) -> Phase:
        raise NotImplementedError

    def weights(self, cfg: RunConfig) -> str | None:
        return cfg.weights if self.pretrained else "none"


STRATEGIES: Registry[Strategy] = Registry("strategy")


def body(groups: list[str]) -> list[str]:
    return [g for g in groups if g != "head"]
