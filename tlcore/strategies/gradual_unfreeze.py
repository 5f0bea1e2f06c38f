from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy, body


class GradualUnfreeze(Strategy):
    """ULMFiT-style: epoch 0 trains the head, each later epoch unfreezes one more group
    from the top, so the lowest (most general) layers move last and least."""

    def phase(self, groups, cfg, epoch):
        b = body(groups)
        n = min(epoch, len(b))
        return Phase(frozenset({"head", *b[len(b) - n:]}))


STRATEGIES.add(GradualUnfreeze(
    "gradual_unfreeze", "Gradual unfreezing", "One more group from the top each epoch.", order=60))
