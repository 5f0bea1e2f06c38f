"""Features of a run's test images, before training (pretrained) and after it.

"Before vs after" only means something if both sides describe the *same images*. A run
stores its after-training features for its source test split and its target test split
(``features_test`` / ``features_target`` in the store's artifacts); this module computes
the pretrained backbone's features for exactly those images, in the same order, from
``rundata.prepare(cfg)``, so row ``i`` on both sides is the same picture.

The pretrained side is the backbone with ``cfg.weights`` (its pretrained default unless
the config says otherwise), not the strategy's start: a from-scratch run starts from a
random init, but the question the Embeddings page asks is what the *pretrained* features
look like. Results are cached on disk through ``tlcore.features.cached_prefix`` under the
same key the trainer uses for a fully frozen backbone, so a feature-extraction run on the
same data has already paid for them (and they are reused by later runs too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from tlcore.config import RunConfig
from tlcore.features import cached_prefix, run_prefix
from tlcore.models import build_backbone
from tlcore.rundata import SPLIT_RULE, RunData, prepare

# Domain shown on the page -> the split name the trainer and the store use for it.
SPLITS = {"source": "test", "target": "target"}


@dataclass
class FeatureSet:
    """Features per domain (``"source"``: the source test split, ``"target"``: the target
    test split). ``features[d]`` is float32 ``[N_d, D]``, ``labels[d]`` int64 ``[N_d]``."""

    features: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    class_names: list[str]

    @property
    def dim(self) -> int:
        return next(iter(self.features.values())).shape[1]


def split_images(cfg: RunConfig, data: RunData | None = None) -> dict[str, torch.Tensor]:
    """The uint8 images ``[N, C, H, W]`` behind each domain's rows, in feature order."""
    data = data or prepare(cfg)
    out = {"source": data.source.images[data.splits.test]}
    if data.target is not None:
        out["target"] = data.target.images[data.target_test]
    return out


def split_labels(data: RunData) -> dict[str, torch.Tensor]:
    out = {"source": data.source.labels[data.splits.test]}
    if data.target is not None:
        out["target"] = data.target.labels[data.target_test]
    return out


def pretrained_features(cfg: RunConfig, data: RunData | None = None) -> FeatureSet:
    """The pretrained backbone's features for ``cfg``'s source and target test images."""
    data = data or prepare(cfg)
    if cfg.weights == "none":
        torch.manual_seed(cfg.seed)  # a random init is the "before" only when asked for
    bb = build_backbone(cfg.backbone, weights=cfg.weights, input_size=cfg.input_size)
    net = bb.net.eval()
    k = len(net.stages)  # every stage: the output is the [N, D] feature vector
    key_base = None
    if bb.weights.pretrained:  # mirrors tlcore.train's key for a fully frozen backbone
        key_base = {"backbone": cfg.backbone, "weights": bb.provenance.files, "size": bb.preprocess.size,
                    "dataset": cfg.dataset, "target": cfg.target, "seed": cfg.seed,
                    "labels_per_class": cfg.labels_per_class, "val": cfg.val_per_class,
                    "test": cfg.test_per_class, "splits": SPLIT_RULE, "index": data.digest(), "oracle": False}
    images = split_images(cfg, data)
    feats = {}
    for domain, imgs in images.items():
        key = None if key_base is None else {**key_base, "split": SPLITS[domain], "cut": k}
        feats[domain] = cached_prefix(key, lambda imgs=imgs: run_prefix(net, bb.preprocess(imgs), k)).numpy()
    labels = {d: v.numpy() for d, v in split_labels(data).items()}
    return FeatureSet(feats, labels, list(data.source.class_names))


def run_features(artifacts: Mapping[str, torch.Tensor], class_names) -> FeatureSet | None:
    """A finished run's after-training features from ``Store.load_artifacts``; None if it
    stored none (failed, cancelled, or made before features were kept)."""
    feats, labels = {}, {}
    for domain, split in SPLITS.items():
        if f"features_{split}" in artifacts:
            feats[domain] = np.asarray(artifacts[f"features_{split}"], dtype=np.float32)
            labels[domain] = np.asarray(artifacts[f"labels_{split}"])
    return FeatureSet(feats, labels, list(class_names)) if feats else None


def config_key(cfg: RunConfig) -> str:
    """The fields pretrained features depend on, as canonical JSON: a cache key shared by
    every run on the same data and backbone (whatever its strategy or learning rate)."""
    keep = ("backbone", "weights", "input_size", "dataset", "target", "labels_per_class",
            "val_per_class", "test_per_class", "seed")
    return json.dumps({k: getattr(cfg, k) for k in keep}, sort_keys=True)


def from_key(key: str) -> RunConfig:
    """A config with the key's fields (the rest default): enough for ``pretrained_features``."""
    return RunConfig.from_dict(json.loads(key))


def picture(image: torch.Tensor | np.ndarray, size: int = 112) -> np.ndarray:
    """uint8 ``[C, H, W]`` -> ``[H', W']`` or ``[H', W', 3]`` enlarged by whole pixels,
    so an 8x8 digit stays crisp instead of being blurred by the browser."""
    a = np.asarray(image)
    scale = max(1, size // max(a.shape[1:]))
    a = a.repeat(scale, axis=1).repeat(scale, axis=2)
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
