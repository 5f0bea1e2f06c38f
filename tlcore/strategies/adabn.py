"""AdaBN (Li, Wang, Shi, Liu and Hou, "Revisiting Batch Normalization For Practical Domain
Adaptation", ICLR workshop 2017 / Pattern Recognition 2018).

No adaptation loss at all: train on labelled source images as source-only does, then
re-estimate every BatchNorm layer's statistics on unlabelled target images, so each domain
is normalised by its own statistics (the paper's claim: label-specific knowledge lives in
the weights, domain-specific knowledge in the BN statistics).

In this lab the source test split is scored with the source statistics and the target
test split with the re-estimated ones, as the paper evaluates each domain; the stored
model carries the target statistics (it is the model for the target). The per-epoch
target curve is still source-only's: the re-estimation happens once, after training.
The statistics are a cumulative average over ``EVAL_BATCH``-image batches of the target
pool (never the target test images).
"""

from __future__ import annotations

import torch
from torch import nn

from tlcore.evaluation import EVAL_BATCH
from tlcore.freeze import BN_TYPES

from .adaptation import ADAPT_TOP, TARGET_POOL, adapting_phase
from .base import STRATEGIES, StepContext, Strategy


@torch.no_grad()
def reestimate_bn(net: nn.Module, images: torch.Tensor, preprocess, device, batch: int = EVAL_BATCH) -> int:
    """Replace every BatchNorm layer's running statistics by those of ``images`` (uint8,
    preprocessed per batch); returns the number of layers. The net ends in eval mode."""
    bns = [m for m in net.modules() if isinstance(m, BN_TYPES)]
    momenta = [m.momentum for m in bns]
    net.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches, not an exponential one
        m.train()
    for i in range(0, len(images), batch):
        net.forward_features(preprocess(images[i:i + batch]).to(device), 0)
    for m, mom in zip(bns, momenta, strict=True):
        m.momentum = mom
    net.eval()
    return len(bns)


class AdaBN(Strategy):
    """Fine-tune all on labelled source; then BatchNorm statistics from the target."""

    knobs = (TARGET_POOL, ADAPT_TOP)

    def phase(self, groups, cfg, epoch):
        return adapting_phase(groups, cfg)

    def prepare_net(self, net, cfg):
        if not any(isinstance(m, BN_TYPES) for m in net.modules()):  # said before any training
            raise ValueError("AdaBN re-estimates BatchNorm statistics, and this backbone has no "
                             "BatchNorm layers (pick a ResNet, MobileNet, EfficientNet or lab net)")

    def before_target(self, ctx: StepContext, data) -> None:
        pool = data.target.images[data.target_pool[:self.value(ctx.cfg, "target_pool_max")]]
        reestimate_bn(ctx.net, pool, ctx.preprocess, ctx.device)
        # with adapt_top the lower groups were frozen and their outputs cached with the old
        # statistics: the target is scored through every group (the trainer reads ctx.k again)
        ctx.k = 0


STRATEGIES.add(AdaBN(
    "adabn", "AdaBN", "Source-only training, then BatchNorm statistics from the target (Li et al. 2017).",
    requires_target=True, uses_unlabelled_target=True, order=115))
