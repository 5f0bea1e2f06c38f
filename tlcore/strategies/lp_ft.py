from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy
from .knobs import Knob


class LinearProbeThenFinetune(Strategy):
    """Kumar et al. 2022 (LP-FT): train the head alone first so that fine-tuning starts
    from a sensible head and distorts the pretrained features less; then train all
    groups at the discriminative LRs."""

    # a RunConfig field of its own (older than knobs): its run ids stay as they were
    knobs = (Knob("probe_epochs", "int", 3, 0, 100, "head-only epochs before everything trains",
                  field="probe_epochs", label="LP-FT: head-only epochs first"),)

    def phase(self, groups, cfg, epoch):
        if epoch < self.value(cfg, "probe_epochs"):
            return Phase(frozenset({"head"}))
        return Phase(frozenset(groups), lr_scale=0.5)


STRATEGIES.add(LinearProbeThenFinetune(
    "lp_ft", "Linear probe, then fine-tune",
    "Head alone for the first epochs, then everything (Kumar et al. 2022).", order=70))
