"""Fine-tuning the top k groups, or all of them, with discriminative learning rates."""

from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy, body


class FinetuneTop(Strategy):
    def phase(self, groups, cfg, epoch):
        top = body(groups)[len(body(groups)) - cfg.top_k:] if cfg.top_k > 0 else []
        return Phase(frozenset({"head", *top}))


class FinetuneAll(Strategy):
    def phase(self, groups, cfg, epoch):
        return Phase(frozenset(groups))


class Custom(Strategy):
    """The user's own per-group toggles (``trainable_groups``); the head always trains."""

    def phase(self, groups, cfg, epoch):
        chosen = set(cfg.trainable_groups or ())
        unknown = chosen - set(groups)
        if unknown:
            raise ValueError(f"unknown layer groups {sorted(unknown)}; this backbone has {groups}")
        return Phase(frozenset({"head", *chosen}))


STRATEGIES.add(FinetuneTop(
    "finetune_top", "Fine-tune top k",
    "Train the head and the top k groups (at a lower LR); the rest stays frozen."))
STRATEGIES.add(FinetuneAll(
    "finetune_all", "Fine-tune all",
    "Train every group, the backbone at a lower LR than the new head."))
STRATEGIES.add(Custom(
    "custom", "Custom freeze plan", "Exactly the groups you toggled train, plus the head."))
