"""Conditional adversarial domain adaptation, CDAN+E (Long, Cao, Wang and Jordan, NeurIPS 2018).

Like DANN, a domain discriminator sits behind gradient reversal, but it sees the features
*conditioned on the classifier's predictions*: the multilinear map ``f (x) g`` (the outer
product of features ``f`` ``[D]`` and softmax predictions ``g`` ``[C]``, flattened to
``D * C``), so aligning the domains also aligns their class-conditional structure. When
``D * C`` exceeds ``MAX_MULTILINEAR`` the paper's randomized map is used instead:
``(R_f f) * (R_g g) / sqrt(d)`` with fixed Gaussian ``R_f`` ``[D, d]``, ``R_g`` ``[C, d]``.

``+E`` (entropy conditioning, on by default): each sample's discriminator loss is weighted
by ``1 + exp(-H(g))``, normalised per domain, so confidently classified samples lead
(paper section 3.3). ``g`` is detached, as in the authors' code: the classifier is not
trained through the discriminator.

The reversal strength follows Ganin's schedule times ``cdan_weight``; its default is
DANN's tuned 0.3 (see ``dann.py``), not re-tuned for CDAN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tlcore.grl import DomainDiscriminator, ganin_lambda

from .adaptation import AdaptationStrategy
from .base import STRATEGIES
from .dann import DANN_WEIGHT, DISC_HIDDEN
from .knobs import Knob

MAX_MULTILINEAR = 4096  # above this D * C, the randomized map of dimension RANDOM_DIM
RANDOM_DIM = 1024


def multilinear(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``f (x) g`` per row: ``[B, D]`` x ``[B, C]`` -> ``[B, D * C]`` (row-major in ``D``)."""
    return torch.bmm(f.unsqueeze(2), g.unsqueeze(1)).flatten(1)


def entropy_weights(g: torch.Tensor) -> torch.Tensor:
    """``1 + exp(-H(g))`` per row, scaled to mean 1 (so the loss keeps its size)."""
    h = -(g * torch.log(g + 1e-5)).sum(1)
    w = 1.0 + torch.exp(-h)
    return w / w.mean()


class ConditionalDiscriminator(nn.Module):
    """(features, predictions) -> domain logit, through the (randomized) multilinear map."""

    def __init__(self, feature_dim: int, num_classes: int, hidden: int, seed: int) -> None:
        super().__init__()
        self.randomized = feature_dim * num_classes > MAX_MULTILINEAR
        dim = RANDOM_DIM if self.randomized else feature_dim * num_classes
        if self.randomized:  # fixed, not trained: buffers
            gen = torch.Generator().manual_seed(seed)
            self.register_buffer("rf", torch.randn(feature_dim, RANDOM_DIM, generator=gen))
            self.register_buffer("rg", torch.randn(num_classes, RANDOM_DIM, generator=gen))
        self.disc = DomainDiscriminator(dim, hidden=hidden)

    def forward(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if self.randomized:
            h = (f @ self.rf) * (g @ self.rg) / math.sqrt(RANDOM_DIM)
        else:
            h = multilinear(f, g)
        return self.disc(h)


class CDAN(AdaptationStrategy):
    """A domain discriminator on features conditioned on class predictions (CDAN+E)."""

    knobs = (*AdaptationStrategy.knobs,
             Knob("cdan_weight", "float", DANN_WEIGHT, 0.0, 10.0,
                  "scale of the reversed gradient (Ganin's schedule times this)", label="CDAN strength"),
             Knob("cdan_entropy", "bool", 1, 0, 1, "1: weight samples by prediction certainty (CDAN+E)",
                  label="Entropy conditioning (+E)"),
             DISC_HIDDEN)

    def build_aux(self, net, cfg):
        return ConditionalDiscriminator(net.feature_dim, net.head.out_features, self.value(cfg, "disc_hidden"),
                                        seed=cfg.seed)

    def adapt_loss(self, ctx, fs, ft, logits_s):
        lambd = ganin_lambda(ctx.progress) * self.value(ctx.cfg, "cdan_weight")
        ctx.aux.disc.lambd = lambd
        f = torch.cat([fs, ft])
        g = torch.softmax(torch.cat([logits_s, ctx.net.head(ft)]), dim=1).detach()
        logits = ctx.aux(f, g)
        domain = torch.cat([torch.zeros(len(fs)), torch.ones(len(ft))]).to(logits.device)
        per = F.binary_cross_entropy_with_logits(logits, domain, reduction="none")
        if self.value(ctx.cfg, "cdan_entropy"):
            n = len(fs)
            w = torch.cat([entropy_weights(g[:n]), entropy_weights(g[n:])])
            per = per * w
        loss = per.mean()
        acc = float(((logits > 0).float() == domain).float().mean())
        return loss, {"domain_loss": float(loss.detach()), "domain_acc": acc, "lambda": lambd}


STRATEGIES.add(CDAN(
    "cdan", "CDAN+E", "Adversarial adaptation conditioned on class predictions (Long et al. 2018).",
    requires_target=True, uses_unlabelled_target=True, order=125))
