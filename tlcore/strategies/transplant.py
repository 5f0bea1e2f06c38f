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

Knobs (``RunConfig.extra``, defaults cut=2, frozen_copy=1): ``cut`` = n, the number of body groups copied (0 = nothing
copied, a fresh network; all of them = a new head on the whole copied backbone), and
``frozen_copy`` (1 = AnB/BnB, 0 = AnB+/BnB+). The groups above the cut and the head
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

from tlcore.config import RunConfig
from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy, body

DEFAULT_CUT = 2
DEFAULT_FROZEN_COPY = 1


def cut_of(groups: list[str], cfg: RunConfig) -> int:
    """The number of copied body groups, checked against this backbone's groups."""
    n_body = len(body(groups))
    raw = cfg.extra_value("cut", DEFAULT_CUT)
    if raw != int(raw) or not 0 <= raw <= n_body:
        raise ValueError(f"transplant: cut must be a whole number from 0 to {n_body} (this backbone's body "
                         f"groups are {', '.join(body(groups))}); got {raw:g}")
    return int(raw)


def frozen_copy(cfg: RunConfig) -> bool:
    raw = cfg.extra_value("frozen_copy", DEFAULT_FROZEN_COPY)
    if raw not in (0.0, 1.0):
        raise ValueError(f"transplant: frozen_copy must be 1 (AnB: copied groups frozen) or 0 "
                         f"(AnB+: copied groups fine-tuned); got {raw:g}")
    return raw == 1.0


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
    def phase(self, groups, cfg, epoch):
        n = cut_of(groups, cfg)
        copied = body(groups)[:n]
        trainable = [g for g in groups if not (frozen_copy(cfg) and g in copied)]
        return Phase(frozenset(trainable), discriminative=False)

    def prepare_net(self, net, cfg):
        groups = net.group_names
        n = cut_of(groups, cfg)
        frozen_copy(cfg)  # a bad knob fails here, before any training
        for i, g in enumerate(body(groups)[n:], start=n):
            # one seed per group: a group's fresh init does not depend on where the cut is
            reinit(net.group(g), cfg.seed * 1000 + i)


STRATEGIES.add(Transplant(
    "transplant", "Copy n groups (Yosinski)",
    "Keep the first n pretrained groups (extra cut=n), re-initialise the rest and train them; "
    "the copied groups stay frozen (frozen_copy=1: AnB) or are fine-tuned (0: AnB+). "
    "Yosinski et al. 2014."))
