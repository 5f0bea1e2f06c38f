"""Gradient reversal (Ganin & Lempitsky 2015; Ganin et al. 2016, "DANN").

Forward is the identity; backward multiplies the gradient by ``-lambda``. Placed between
the feature extractor and a domain discriminator, it makes the extractor *maximise* the
discriminator's loss while the discriminator minimises it, pushing source and target
features to become indistinguishable.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lambd * grad, None


def reverse_grad(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    return _ReverseGrad.apply(x, lambd)


def ganin_lambda(progress: float, gamma: float = 10.0) -> float:
    """The schedule of Ganin et al. 2016: ``2 / (1 + exp(-gamma p)) - 1`` for training
    progress ``p`` in [0, 1]; starts at 0 so early, noisy features are not pushed around."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


class DomainDiscriminator(nn.Module):
    """Features ``[N, D]`` -> domain logit ``[N]`` (1 = target), after gradient reversal.

    Two hidden layers of ``hidden`` units with BatchNorm, as in the DANN paper's MNIST
    setting; ``lambd`` is set by the trainer each step from the schedule."""

    def __init__(self, dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.lambd = 0.0
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(reverse_grad(features, self.lambd)).squeeze(1)
