import torch

from .adaptation import AdaptationStrategy
from .base import STRATEGIES
from .knobs import Knob


def coral(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """Deep CORAL (Sun & Saenko 2016): ``|C_s - C_t|_F^2 / (4 d^2)`` for feature covariances."""
    d = fs.shape[1]

    def cov(x: torch.Tensor) -> torch.Tensor:
        xc = x - x.mean(0, keepdim=True)
        return xc.T @ xc / max(1, len(x) - 1)

    return (cov(fs) - cov(ft)).pow(2).sum() / (4 * d * d)


class CORAL(AdaptationStrategy):
    """Align second-order statistics of source and target features; no adversary."""

    knobs = (*AdaptationStrategy.knobs,
             Knob("coral_weight", "float", 1.0, 0.0, 100.0, "weight of the covariance-matching loss",
                  label="CORAL weight"))

    def adapt_loss(self, ctx, fs, ft, logits_s):
        loss = coral(fs, ft) * self.value(ctx.cfg, "coral_weight")
        return loss, {"coral_loss": float(loss.detach())}


STRATEGIES.add(CORAL(
    "coral", "Deep CORAL", "Match source and target feature covariances (Sun & Saenko 2016).",
    requires_target=True, uses_unlabelled_target=True, order=130))
