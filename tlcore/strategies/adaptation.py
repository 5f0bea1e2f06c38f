"""The shared step of strategies that learn from *unlabelled* target images (DANN, CORAL).

For a source -> target pair the question is how much of the gap between training on the
source only and training on labelled target images (the oracle) an adaptation method
closes using unlabelled target images. Each step here draws as many target images as the
source batch has, runs both through the network in one pass, and adds the method's
``adapt_loss`` on the two feature batches to the source classification loss.

``adapt_top`` (shared with source-only and AdaBN, so auto's candidates stay comparable)
trains only the top groups. The groups under them are then a fixed function, so the
trainer computes the source images through them once (its fast path) and so does
``target_batch`` for the target pool: on MobileNetV2 at 64 px a step over the top three
of five body groups costs 51 ms per 32 images against 168 ms for every group (measured
in this lab, 2 cores), which is what makes auto on two 2,000-image folders take minutes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tlcore.augment import random_shift
from tlcore.config import RunConfig
from tlcore.features import prefix_fits, run_prefix
from tlcore.freeze import Phase

from .base import StepContext, Strategy, body
from .knobs import Knob

TARGET_POOL = Knob("target_pool_max", "int", 10000, 1, 1_000_000,
                   "at most this many unlabelled target images are drawn from",
                   label="Target images to draw from")
ADAPT_TOP = Knob("adapt_top", "int", 0, 0, 16,
                 "how many groups below the head train (0: every group); the groups under them stay "
                 "frozen and are computed once per image, which is faster",
                 groups=True, label="Groups that train (0: all)")


def adapting_phase(groups: list[str], cfg: RunConfig) -> Phase:
    """Every group, or the head and the top ``adapt_top`` body groups."""
    k = ADAPT_TOP.read(cfg)
    if k == 0:
        return Phase(frozenset(groups))
    b = body(groups)
    return Phase(frozenset({"head", *b[len(b) - k:]}))


class AdaptationStrategy(Strategy):
    """Fine-tune every group on labelled source batches plus an equal number of unlabelled
    target images per step; subclasses say what to do with the two feature batches."""

    knobs = (TARGET_POOL, ADAPT_TOP)

    def phase(self, groups, cfg, epoch):
        return adapting_phase(groups, cfg)

    def build_aux(self, net: nn.Module, cfg: RunConfig) -> nn.Module | None:
        """Extra trainable modules (e.g. DANN's domain discriminator), trained at ``cfg.lr``;
        ``net`` has its new head (``net.feature_dim``, ``net.head.out_features``)."""
        return None

    def adapt_loss(self, ctx: StepContext, fs: torch.Tensor, ft: torch.Tensor, logits_s: torch.Tensor
                   ) -> tuple[torch.Tensor, dict[str, float]]:
        """The term added to the source loss. ``fs``/``ft``: source / target features
        ``[B, D]`` of one step, ``logits_s`` the source's class logits (a method that needs the
        target's takes ``ctx.net.head(ft)``); ``ctx.aux``, ``ctx.progress`` (in [0, 1]) and
        ``ctx.cfg`` as the step has them. Returns the loss and per-step numbers."""
        raise NotImplementedError

    def setup(self, ctx: StepContext, data) -> None:
        # kept uint8 and preprocessed per batch (a float copy of 10,000 images would be 120 MB)
        self.start(ctx, data.target.images[data.target_pool[:self.value(ctx.cfg, "target_pool_max")]])

    def start(self, ctx: StepContext, pool: torch.Tensor) -> None:
        """Build the extra modules and keep ``pool`` (uint8 target images) to draw batches from
        (the run-time estimate calls this with stand-in images)."""
        ctx.aux = self.build_aux(ctx.net, ctx.cfg)
        if ctx.aux is not None:
            ctx.aux.to(ctx.device)
        ctx.target_pool = pool

    def target_batch(self, ctx: StepContext, n: int) -> torch.Tensor:
        """``n`` unlabelled target images at cut ``ctx.k``, on the device."""
        pool = ctx.target_pool
        pick = torch.randint(len(pool), (n,), generator=ctx.gen)
        if ctx.k and not ctx.cfg.augment and (at_cut := self.pool_at_cut(ctx)) is not None:
            return at_cut[pick].to(ctx.device)
        xt = ctx.preprocess(pool[pick])
        if ctx.cfg.augment:
            xt = random_shift(xt, ctx.gen)
        xt = xt.to(ctx.device)
        if ctx.k:
            with torch.no_grad():  # the frozen prefix, as the trainer's cache computed it for xb
                xt = ctx.net.forward_features(xt, 0, ctx.k)
        return xt

    @staticmethod
    def pool_at_cut(ctx: StepContext) -> torch.Tensor | None:
        """The whole target pool through the frozen groups ``:ctx.k``, computed once per cut
        (None when it would not fit the fast path's memory bound: then every step computes
        its batch's prefix, as before; that answer is kept per cut too)."""
        if ctx.target_at_cut is None or ctx.target_at_cut[0] != ctx.k:
            pool, net, pre = ctx.target_pool, ctx.net, ctx.preprocess
            out = None
            if prefix_fits(net, pre(pool[:1]), ctx.k, len(pool), ctx.device):
                # preprocessed a batch at a time: a float copy of the whole pool can be large
                out = torch.cat([run_prefix(net, pre(pool[i:i + 256]), ctx.k, device=ctx.device)
                                 for i in range(0, len(pool), 256)])
            ctx.target_at_cut = (ctx.k, out)
        return ctx.target_at_cut[1]

    def loss(self, ctx, xb, yb):
        net = ctx.net
        feats = net.forward_features(torch.cat([xb, self.target_batch(ctx, len(xb))]), ctx.k)
        fs, ft = feats[:len(xb)], feats[len(xb):]
        logits = net.head(fs)
        extra, stats = self.adapt_loss(ctx, fs, ft, logits)
        return F.cross_entropy(logits, yb) + extra, logits, stats
