"""Copy the first n layer groups, re-initialise the rest: Yosinski et al. 2014's experiment.

Yosinski, Clune, Bengio and Lipson, "How transferable are features in deep neural
networks?", NeurIPS 2014. They split ImageNet into two halves A and B, trained a base
network on each, and then built new networks for task B by copying the first n layers
of a base network, re-initialising the layers above, and training on B:

- **AnB**: the first n layers come from base A (another task) and stay **frozen**. It
  measures how *general* layer n's features are: frozen layers that are specific to A
  make B worse, so AnB falls as n grows (62.5 -> 54.3 at n=7 on their 8-layer AlexNet).
- **AnB+**: the same copy from A, but the copied layers are **fine-tuned** on B too. It
  stayed at or above the base network for every n (~64.5): transfer plus fine-tuning
  helps, even on a task with plenty of data.
- **BnB** / **BnB+**: the control, copying from base B itself (frozen / fine-tuned).
  BnB's dip in the middle layers shows *co-adaptation*: features that only work together
  with the layers above them, which re-initialising those layers destroys.

Knobs (defaults cut=2, frozen_copy=1): ``cut`` = n, the number of body groups copied (0 =
nothing copied, a fresh network; all of them = a new head on the whole copied backbone),
and ``frozen_copy`` (1 = AnB/BnB, 0 = AnB+/BnB+). The groups above the cut and the head
always train. As in the paper, every group that trains does so at the same learning rate
``cfg.lr`` (no discriminative multiplier; ``lr_mults`` can still name a group).

The re-initialisation happens in ``prepare_net`` with a generator seeded by the run's
seed, so a config always gives the same network. It never touches the copied groups:
with a frozen copy and ``bn_policy="frozen"`` the trainer caches the copied prefix's
outputs under a key that names the backbone's weights, not this strategy.
"""

from __future__ import annotations

import torch
from torch import nn

from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy, body
from .knobs import Knob


@torch.no_grad()
def reinit(module: nn.Module, seed: int) -> None:
    """Fresh PyTorch-default init of every submodule that has one (convs, linears, and
    BatchNorm, whose running statistics reset too), drawn from ``torch.manual_seed(seed)``
    inside a forked RNG so the caller's random stream is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in module.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()


class Transplant(Strategy):
    knobs = (Knob("cut", "int", 2, 0, 16, "how many body groups are copied (the rest start afresh)",
                  groups=True, label="Groups copied (n)"),
             Knob("frozen_copy", "bool", 1, 0, 1, "1: the copied groups stay frozen (AnB); 0: they train (AnB+)",
                  label="Copied groups stay frozen"))

    def phase(self, groups, cfg, epoch):
        self.check(cfg, groups)  # the cut is checked against this backbone's groups
        n = self.value(cfg, "cut")
        copied = body(groups)[:n]
        trainable = [g for g in groups if not (self.value(cfg, "frozen_copy") and g in copied)]
        return Phase(frozenset(trainable), discriminative=False)

    def prepare_net(self, net, cfg):
        groups = net.group_names
        self.check(cfg, groups)  # a bad knob fails here, before any training
        n = self.value(cfg, "cut")
        for i, g in enumerate(body(groups)[n:], start=n):
            # one seed per group: a group's fresh init does not depend on where the cut is
            reinit(net.group(g), cfg.seed * 1000 + i)


STRATEGIES.add(Transplant(
    "transplant", "Copy n groups (Yosinski)",
    "Keep the first n pretrained groups (setting cut=n), re-initialise the rest and train them; "
    "the copied groups stay frozen (frozen_copy=1: AnB) or are fine-tuned (0: AnB+). "
    "Yosinski et al. 2014.", order=100))
