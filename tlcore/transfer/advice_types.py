"""What the advisor reports: the size and similarity calls, backbone scores and the advice.

Plain records kept apart from the code that measures them, so the scoring, the similarity
calls, the advisor and the check (``tlcore.transfer.check`` reads an ``Advice``) all import
them from here and none of those modules needs to import another to name what it returns.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tlcore.config import RunConfig
from tlcore.transfer.rules import Rule


@dataclass
class Size:
    """How much labelled training data the task has."""

    dataset: str
    images: int  # labelled training images
    per_class: dict[str, int]  # class name -> labelled training images
    min_per_class: int
    call: str  # "small" | "large"
    threshold: int  # small when min_per_class < threshold
    why: str


@dataclass
class Similarity:
    """How close the task's images are to the backbone's pretraining images, measured in the
    backbone's own pretrained feature space. ``a_distance``/``mmd2`` are None (and ``call``
    "unknown") when the pretraining data is not available offline."""

    backbone: str
    source_dataset: str | None  # the backbone's pretraining dataset (its lab card)
    dataset: str  # the task
    a_distance: float | None
    mmd2: float | None
    n_source: int
    n_target: int
    call: str  # "similar" | "dissimilar" | "unknown"
    threshold: float  # similar when a_distance < threshold
    why: str
    seconds: float


@dataclass
class BackboneScore:
    """Transferability scores of one backbone's pretrained features on the task's labelled
    training images. A score that cannot apply is None, with the reason in ``reasons``."""

    backbone: str
    scores: dict[str, float | None]
    reasons: dict[str, str]
    primary: str
    rank: int | None  # 1 = best by the primary score; None when it could not be computed
    seconds: float  # features (or reading them from the cache) plus every score
    feature_seconds: float
    score_seconds: dict[str, float]
    cached: bool  # the features came from the disk cache
    n_images: int
    feature_dim: int | None
    error: str | None = None  # the backbone could not be built at all (weights missing)

    @property
    def value(self) -> float | None:
        return self.scores.get(self.primary)


@dataclass
class Advice:
    """What :func:`advise` predicts: the cell, its rule (``strategy`` and the predicted
    strategy order), the backbone order by ``primary``, and the measured ``reason``."""

    config: RunConfig  # the task as asked about
    backbone: str  # the backbone the strategy advice is for
    size: Size
    similarity: Similarity
    cell: tuple[str, str]  # (size call, similarity column used)
    rule: Rule
    backbone_scores: list[BackboneScore]  # best first
    primary: str
    reason: str

    @property
    def strategy(self) -> str:
        return self.rule.strategy

    @property
    def predicted_strategies(self) -> tuple[str, ...]:
        return self.rule.ranking

    @property
    def predicted_backbones(self) -> tuple[str, ...]:
        return tuple(b.backbone for b in self.backbone_scores if b.rank is not None)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["config"] = self.config.to_dict()
        d.update(strategy=self.strategy, predicted_strategies=list(self.predicted_strategies),
                 predicted_backbones=list(self.predicted_backbones))
        return d
