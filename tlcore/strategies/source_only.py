from .adaptation import ADAPT_TOP, adapting_phase
from .base import STRATEGIES, Strategy


class SourceOnly(Strategy):
    """Fine-tune everything (or the top ``adapt_top`` groups, as the adaptation methods it is
    compared with) on labelled source images; score on the target: the floor an adaptation
    method must beat."""

    knobs = (ADAPT_TOP,)

    def phase(self, groups, cfg, epoch):
        return adapting_phase(groups, cfg)


STRATEGIES.add(SourceOnly(
    "source_only", "Source only", "Fine-tune all on labelled source; scored on the target domain.",
    requires_target=True, order=110))
