from .adaptation import ADAPT_TOP, adapting_phase
from .base import STRATEGIES, Strategy


class TargetOracle(Strategy):
    """Fine-tune on *labelled* target images (same label budget): the ceiling an adaptation
    method, which sees the target's images but not its labels, can approach (with
    ``adapt_top``, training the same groups as the methods it bounds)."""

    knobs = (ADAPT_TOP,)

    def phase(self, groups, cfg, epoch):
        return adapting_phase(groups, cfg)


STRATEGIES.add(TargetOracle(
    "target_oracle", "Target oracle", "Fine-tune all on labelled target images: the ceiling.",
    requires_target=True, train_on_target=True, order=140))
