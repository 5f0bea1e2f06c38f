from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy


class Scratch(Strategy):
    """Same architecture, random init, every layer trained at one LR: the baseline that
    says whether pretraining helped at all."""

    def phase(self, groups, cfg, epoch):
        return Phase(frozenset(groups), discriminative=False)


STRATEGIES.add(Scratch(
    "scratch", "From scratch", "Random init, all layers trained: what pretraining must beat.",
    pretrained=False, order=10))
