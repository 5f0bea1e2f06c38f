from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy


class Custom(Strategy):
    """The user's own per-group toggles (``RunConfig.trainable_groups``, set on the Model
    page or with ``--trainable``); the head always trains."""

    def phase(self, groups, cfg, epoch):
        chosen = set(cfg.trainable_groups or ())
        unknown = chosen - set(groups)
        if unknown:
            raise ValueError(f"unknown layer groups {sorted(unknown)}; this backbone has {groups}")
        return Phase(frozenset({"head", *chosen}))


STRATEGIES.add(Custom(
    "custom", "Custom freeze plan", "Exactly the groups you toggled train, plus the head.", order=50))
