"""The data of one run: source pool and splits, and the optional target domain.

The target's test split is drawn with split seed 0 whatever the run seed, so every run
on a pair is scored on the same target images; the rest of the target pool is what an
adaptation method may see (without labels) or the oracle may train on.

Test images of a dataset some lab-zoo model was pretrained on come only from the images
it held out (``holdout_mask``): otherwise a run of ``lab_fashion_b`` on
``fashion_mnist_b`` would be scored partly on its own pretraining images (289 of 500
were, before this rule). ``SPLIT_RULE`` names the rule in feature-cache keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tlcore.config import RunConfig
from tlcore.data import ImageDataset, Splits, load_domain, parse_domain, stratified_splits
from tlcore.data.pairs import check_pair
from tlcore.data.splits import holdout_mask
from tlcore.names import domain_label

SPLIT_RULE = "holdout-v1"  # part of every feature-cache key: bump it when the split rule changes


def _test_pool(ds: ImageDataset, text: str) -> torch.Tensor | None:
    """Where a run's test images may come from: the held-out images when the dataset has
    an official test split or a lab model was pretrained on it; None (anywhere) otherwise."""
    from tlcore.models.lab import LAB_SOURCES

    pretrained_on = {spec.dataset for spec in LAB_SOURCES.values()}
    if (ds.official_test is not None and bool(ds.official_test.any())) or parse_domain(text).dataset in pretrained_on:
        return holdout_mask(ds.labels, ds.official_test)
    return None


@dataclass
class RunData:
    source: ImageDataset
    splits: Splits
    target: ImageDataset | None = None
    target_test: torch.Tensor | None = None  # indices into target
    target_pool: torch.Tensor | None = None  # the rest of target
    titles: tuple[str, str] = ("", "")  # (source, target) as a person reads them (tlcore.names)

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    def digest(self) -> str:
        """sha256 of every index this run's splits hold (source and target): part of the
        feature-cache keys, so a changed split rule or loader can never serve features of
        other images under the same names (``SPLIT_RULE`` alone relies on being bumped)."""
        import hashlib

        h = hashlib.sha256()
        parts = [self.splits.train, self.splits.val, self.splits.test]
        if self.target is not None:
            parts += [self.target_test, self.target_pool]
        for t in parts:
            h.update(t.to(torch.int64).numpy().tobytes())
            h.update(b"|")
        return h.hexdigest()[:16]

    def provenance(self) -> dict:
        d = {"source": {"name": self.source.name, "title": self.titles[0], **self.source.provenance.to_dict(),
                        "train": len(self.splits.train), "val": len(self.splits.val),
                        "test": len(self.splits.test)}}
        if self.target is not None:
            d["target"] = {"name": self.target.name, "title": self.titles[1], **self.target.provenance.to_dict(),
                           "test": len(self.target_test), "pool": len(self.target_pool)}
        return d


def prepare(cfg: RunConfig) -> RunData:
    source = load_domain(cfg.dataset, seed=cfg.seed)
    if source.num_classes < 2:
        raise ValueError(f"{domain_label(cfg.dataset)} has {source.num_classes} class; a classifier "
                         "needs at least 2")
    try:
        splits = stratified_splits(source.labels, labels_per_class=cfg.labels_per_class,
                                   val_per_class=cfg.val_per_class, test_per_class=cfg.test_per_class,
                                   seed=cfg.seed, test_pool=_test_pool(source, cfg.dataset),
                                   class_names=source.class_names)
    except ValueError as e:
        from tlcore.preview import label_budget

        # the Data page's own rule and words (class names, the largest budget that fits)
        budget = label_budget(source.class_counts(), source.class_names, cfg.labels_per_class,
                              cfg.val_per_class, cfg.test_per_class)
        why = budget.message or f"{e}. Use fewer labels, validation or test images per class"
        raise ValueError(f"the label budget does not fit {domain_label(cfg.dataset)}: {why}") from None
    data = RunData(source, splits, titles=(domain_label(cfg.dataset), domain_label(cfg.target)))
    if cfg.target:
        target = load_domain(cfg.target, seed=cfg.seed)
        check_pair(source, target, *data.titles, cfg.test_per_class).raise_first()  # the page's words
        t = stratified_splits(target.labels, labels_per_class=None, val_per_class=0,
                              test_per_class=cfg.test_per_class, seed=0, test_pool=_test_pool(target, cfg.target))
        data.target, data.target_test, data.target_pool = target, t.test, t.train
    return data
