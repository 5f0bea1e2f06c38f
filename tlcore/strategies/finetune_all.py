from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy


class FinetuneAll(Strategy):
    """Every group trains, the backbone at ``lr * backbone_lr_mult`` (discriminative LRs)."""

    def phase(self, groups, cfg, epoch):
        return Phase(frozenset(groups))


STRATEGIES.add(FinetuneAll(
    "finetune_all", "Fine-tune all",
    "Train every group, the backbone at a lower LR than the new head.", order=40))
