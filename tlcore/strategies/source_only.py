from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy


class SourceOnly(Strategy):
    """Fine-tune everything on labelled source images; score on the target: the floor an
    adaptation method must beat."""

    def phase(self, groups, cfg, epoch):
        return Phase(frozenset(groups))


STRATEGIES.add(SourceOnly(
    "source_only", "Source only", "Fine-tune all on labelled source; scored on the target domain.",
    requires_target=True, order=110))
