"""Gradient reversal against an oracle: identity forward, gradient negated and scaled."""

from __future__ import annotations

import math

import pytest
import torch

from tlcore.grl import DomainDiscriminator, ganin_lambda, reverse_grad


@pytest.mark.parametrize("lambd", [0.0, 0.3, 1.0, 2.5])
def test_forward_is_identity_and_gradient_is_negated(lambd):
    torch.manual_seed(0)
    x = torch.randn(5, 7, requires_grad=True)
    w = torch.randn(5, 7)
    y = reverse_grad(x, lambd)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    assert torch.allclose(x.grad, -lambd * w)  # d/dx (x * w) = w, reversed and scaled


def test_discriminator_gradient_reaches_features_reversed():
    torch.manual_seed(0)
    disc = DomainDiscriminator(4, hidden=8)
    f = torch.randn(6, 4, requires_grad=True)
    disc.lambd = 0.0
    disc(f).sum().backward()
    assert torch.count_nonzero(f.grad) == 0
    f.grad = None
    disc.lambd = 1.0
    disc(f).sum().backward()
    g_rev = f.grad.clone()
    # oracle: the same network without reversal gives exactly the opposite gradient
    f2 = f.detach().clone().requires_grad_(True)
    disc.net(f2).squeeze(1).sum().backward()
    assert torch.allclose(g_rev, -f2.grad, atol=1e-6)


def test_ganin_schedule():
    assert ganin_lambda(0.0) == 0.0
    assert ganin_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    vals = [ganin_lambda(p / 10) for p in range(11)]
    assert vals == sorted(vals) and vals[-1] < 1.0
