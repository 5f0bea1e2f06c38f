"""The strategy advisor: predict which strategy and backbone will win, then check.

Classic guidance picks a transfer strategy from two things: how many labelled images the
target task has, and how close it is to the data the backbone was pretrained on. Here both
are measured rather than guessed, one module per part (each imports only those below it):

- ``tlcore.transfer.rules``: the size x similarity grid, its two lines and each cell's
  ``Rule`` (a predicted ranking of strategies, with the reason).
- ``tlcore.transfer.advice_types``: the records reported (``Size``, ``Similarity``,
  ``BackboneScore``, ``Advice``).
- ``tlcore.transfer.backbone_features``: pretrained features, cached on disk by content.
- ``tlcore.transfer.scoring``: :func:`score_backbones` ranks candidate backbones by
  transferability scores on those features (seconds, no training).
- ``tlcore.transfer.similarity``: :func:`size` (small / large) and :func:`similarity` (proxy
  A-distance and MMD² to the backbone's pretraining images: similar / dissimilar / unknown).
- this module: :func:`advise` puts the task in a cell of the grid and says why in one sentence.
- ``tlcore.transfer.check``: :func:`candidate_configs` gives the short runs that test the
  advice, and :func:`check` compares the predicted rankings with the finished runs:
  Kendall's tau and every pair the prediction got the wrong way round. Both are re-exported
  here for the CLI's ``advise --check``.

In this app "dataset" (``cfg.dataset``) is the task the user trains on, so it is the
*target* of transfer; the backbone's pretraining data is the source. ``cfg.target`` (a
shifted test domain) plays no part in the advice.
"""

from __future__ import annotations

from collections.abc import Sequence

from tlcore.config import RunConfig
from tlcore.names import domain_label
from tlcore.rundata import prepare
from tlcore.transfer.advice_types import Advice
from tlcore.transfer.check import candidate_configs, check
from tlcore.transfer.rules import rule_for
from tlcore.transfer.scoring import score_backbones
from tlcore.transfer.similarity import similarity, size


def advise(cfg: RunConfig, backbones: Sequence[str] | None = None, *, primary: str = "logme",
           backbone: str | None = None) -> Advice:
    """Grid cell, recommended strategy, predicted rankings and the reason, for ``cfg``'s task.

    ``backbones`` (default: ``cfg.backbone`` alone) are ranked by ``primary``; the strategy
    advice is for ``backbone`` (default: the best-ranked one, else ``cfg.backbone``), whose
    pretraining data sets the similarity. An unknown similarity is treated as dissimilar:
    the conservative column, whose rules never lean on features the task may not share.
    """
    data = prepare(cfg)
    ranked = score_backbones(cfg, backbones or (cfg.backbone,), primary=primary, data=data)
    chosen = backbone or next((b.backbone for b in ranked if b.rank == 1), cfg.backbone)
    bcfg = cfg if chosen == cfg.backbone else cfg.replace(backbone=chosen, weights=None, input_size=None)
    sz = size(cfg, data)
    sim = similarity(bcfg, data)
    rule = rule_for(sz.call, sim.call)
    if sim.a_distance is not None:
        where = (f"a proxy A-distance of {sim.a_distance:.2f} to {chosen}'s {sim.source_dataset} "
                 f"pretraining images ({sim.call}: the line is {sim.threshold:g})")
    else:
        where = f"an unknown distance to {chosen}'s pretraining data (taken as dissimilar)"
    top = next((b for b in ranked if b.rank == 1), None)
    ranking = (f"; {top.backbone} ranks first of {len(ranked)} backbones by {primary} "
               f"({top.value:.3f})" if top is not None and len(ranked) > 1 else "")
    reason = (f"{sz.images} labelled images ({sz.min_per_class} per class: {sz.call}, the line is "
              f"{sz.threshold}) and {where} put {domain_label(sz.dataset)} in the {rule.size} x {rule.similarity} "
              f"cell, so {rule.strategy}: {rule.reason}{ranking}.")
    return Advice(cfg, chosen, sz, sim, (rule.size, rule.similarity), rule, ranked, primary, reason)


__all__ = ["advise", "candidate_configs", "check"]
