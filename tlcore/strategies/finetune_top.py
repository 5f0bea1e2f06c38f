"""Fine-tune the top k body groups (and the head) at discriminative learning rates."""

from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy, body
from .knobs import Knob


class FinetuneTop(Strategy):
    # a RunConfig field of its own (older than knobs): its run ids stay as they were
    knobs = (Knob("top_k", "int", 1, 0, 16, "how many groups below the head train (0: the head alone)",
                  groups=True, field="top_k", label="Fine-tune top k groups"),)

    def phase(self, groups, cfg, epoch):
        k = self.value(cfg, "top_k")
        top = body(groups)[len(body(groups)) - k:] if k > 0 else []
        return Phase(frozenset({"head", *top}))


STRATEGIES.add(FinetuneTop(
    "finetune_top", "Fine-tune top k",
    "Train the head and the top k groups (at a lower LR); the rest stays frozen.", order=30))
