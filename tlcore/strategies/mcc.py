"""Minimum Class Confusion (Jin, Wang, Long and Wang, ECCV 2020).

No discriminator: MCC penalises how much the classifier *confuses* classes on unlabelled
target batches. With target logits ``z`` ``[B, C]`` and temperature ``T``:

- ``Y = softmax(z / T)`` (rescaled probabilities, paper eq. 1);
- per-sample weights from certainty, ``w_i = B (1 + exp(-H(Y_i))) / sum_k (1 + exp(-H(Y_k)))``
  (eq. 3-4): confident samples count more;
- class correlations ``C = Y^T diag(w) Y`` (eq. 5), each row normalised to sum to 1 (eq. 6);
- ``L = sum_{j != j'} C_jj' / C_count`` (eq. 7): the off-diagonal mass.

The loss is 0 for confident one-hot predictions and ``(C - 1) / C`` for uniform ones.
The paper uses ``T = 2.5`` and a weight of 1 (its digits and Office settings).

Driving confusion down makes the target predictions confident, so the mean target entropy
cannot judge an MCC run (``optimises``; Saito et al. 2021 make the same point about
entropy-minimising methods). Measured on two 2,000-image folders with MobileNetV2: MCC had
the lowest target entropy of the 8 candidates (0.097, source-only 0.445) and 25 points less
target accuracy than source-only.
"""

from __future__ import annotations

import torch

from .adaptation import AdaptationStrategy
from .base import STRATEGIES
from .knobs import Knob


def mcc_loss(logits: torch.Tensor, temperature: float = 2.5) -> torch.Tensor:
    """The class-confusion loss of target ``logits`` ``[B, C]`` (see the module docstring)."""
    b, c = logits.shape
    y = torch.softmax(logits / temperature, dim=1)
    entropy = -(y * torch.log(y + 1e-5)).sum(1)
    w = 1.0 + torch.exp(-entropy)
    w = b * w / w.sum()
    conf = (y * w.unsqueeze(1)).T @ y
    conf = conf / conf.sum(1, keepdim=True)
    return (conf.sum() - conf.trace()) / c


class MCC(AdaptationStrategy):
    """Fine-tune all on labelled source batches while minimising the class confusion of the
    classifier's predictions on unlabelled target batches."""

    knobs = (*AdaptationStrategy.knobs,
             Knob("mcc_weight", "float", 1.0, 0.0, 100.0, "weight of the class-confusion loss",
                  label="MCC weight"),
             Knob("mcc_temperature", "float", 2.5, 0.1, 100.0,
                  "softmax temperature that rescales the target predictions", label="MCC temperature"))

    def adapt_loss(self, ctx, fs, ft, logits_s):
        loss = mcc_loss(ctx.net.head(ft), self.value(ctx.cfg, "mcc_temperature"))
        return loss * self.value(ctx.cfg, "mcc_weight"), {"mcc_loss": float(loss.detach())}


STRATEGIES.add(MCC(
    "mcc", "MCC", "Minimise class confusion on unlabelled target predictions (Jin et al. 2020).",
    requires_target=True, uses_unlabelled_target=True, order=132, optimises=("target_entropy",)))
