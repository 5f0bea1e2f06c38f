from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy


class LinearProbeThenFinetune(Strategy):
    """Kumar et al. 2022 (LP-FT): train the head alone first so that fine-tuning starts
    from a sensible head and distorts the pretrained features less; then train all
    groups at the discriminative LRs."""

    def phase(self, groups, cfg, epoch):
        if epoch < cfg.probe_epochs:
            return Phase(frozenset({"head"}))
        return Phase(frozenset(groups), lr_scale=0.5)


STRATEGIES.add(LinearProbeThenFinetune(
    "lp_ft", "Linear probe, then fine-tune",
    "Head alone for the first epochs, then everything (Kumar et al. 2022)."))
