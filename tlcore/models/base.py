"""What a backbone is in Transfer Lab: an ordered chain of named layer groups plus a head.

Every backbone, torchvision's or the lab zoo's, is wrapped as a ``GroupedNet``::

    x -> stages[0] -> stages[1] -> ... -> stages[-1] -> features [N, D] -> head -> logits

The last stage ends with pooling and flattening, so ``forward_features`` returns one
vector per image and the head is a plain ``nn.Linear``. Because the groups form a
chain, freezing "the first k groups" and caching their output (the fast path) are the
same cut, and every parameter belongs to exactly one group (a test sweeps this).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from tlcore.data.base import Availability
from tlcore.registry import Registry

from .preprocess import Preprocess


class WeightsUnavailable(RuntimeError):
    """Pretrained weights are not on this machine; the message says how to get them.

    Raised instead of silently falling back to a random init.
    """


LoadedWeights = tuple[dict[str, torch.Tensor] | None, tuple[tuple[str, str], ...]]


class GroupedNet(nn.Module):
    """A chain of named stages and a linear head (see the module docstring)."""

    def __init__(self, stages: dict[str, nn.Module], head: nn.Linear) -> None:
        super().__init__()
        if "head" in stages:
            raise ValueError("'head' is reserved for the classifier group")
        self.stages = nn.ModuleDict(stages)
        self.head = head

    @property
    def feature_dim(self) -> int:
        return self.head.in_features

    @property
    def group_names(self) -> list[str]:
        return [*self.stages.keys(), "head"]

    def group(self, name: str) -> nn.Module:
        return self.head if name == "head" else self.stages[name]

    def forward_features(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Run stages ``start:stop``. ``x`` is the input of stage ``start``."""
        for stage in list(self.stages.values())[start:stop]:
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    def reset_head(self, num_classes: int, seed: int | None = None) -> None:
        """A fresh linear head for a new task (the transfer-learning move)."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        head = nn.Linear(self.feature_dim, num_classes)
        if gen is not None:
            bound = 1.0 / self.feature_dim**0.5
            with torch.no_grad():
                head.weight.uniform_(-bound, bound, generator=gen)
                head.bias.uniform_(-bound, bound, generator=gen)
        self.head = head


@dataclass(frozen=True)
class WeightsSpec:
    """One set of weights a backbone can start from.

    ``load`` returns a state_dict for the *original* model (before wrapping), read
    with ``weights_only=True`` from a file whose sha256 was checked, plus the
    ``(path, sha256)`` of the files read; ``(None, ())`` for a random init.
    ``preprocess`` is the input pipeline these weights were trained with.
    """

    name: str
    title: str
    source: str
    licence: str
    preprocess: Preprocess
    check: Callable[[], Availability]
    load: Callable[[], LoadedWeights]
    num_classes: int | None = None  # classes of the original head (1000 for ImageNet)
    categories: tuple[str, ...] = ()
    notes: str = ""

    @property
    def pretrained(self) -> bool:
        return self.name != "none"


@dataclass(frozen=True)
class BackboneSpec:
    """A registry entry: how to build the model and which weights it can take.

    ``build(state_dict)`` returns the wrapped ``GroupedNet`` with its original head,
    loading the state_dict when given. ``default_size`` is the input size we suggest on
    a laptop CPU; ``native_size`` the size the weights were trained at.
    """

    name: str
    family: str
    title: str
    build: Callable[[dict[str, torch.Tensor] | None], GroupedNet]
    weights: dict[str, WeightsSpec]
    default_weights: str
    default_size: int
    native_size: int
    description: str = ""
    tags: tuple[str, ...] = field(default=())


BACKBONES: Registry[BackboneSpec] = Registry("backbone")


def _always() -> Availability:
    return Availability(True)


def _no_weights() -> LoadedWeights:
    return None, ()


def random_weights(preprocess: Preprocess) -> WeightsSpec:
    """Explicit random init: the `scratch` baseline, never a silent fallback."""
    return WeightsSpec(
        name="none",
        title="random init (no pretraining)",
        source="random initialisation (PyTorch defaults, seeded by the run)",
        licence="n/a",
        preprocess=preprocess,
        check=_always,
        load=_no_weights,
    )
