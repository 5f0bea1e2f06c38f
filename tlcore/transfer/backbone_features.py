"""A backbone's pretrained features of a task's images, cached on disk by their content.

Both halves of the advice read these: the transferability scores (``tlcore.transfer.scoring``)
on the task's labelled training images, and the similarity call
(``tlcore.transfer.similarity``) on those, the test images and held-out pretraining images.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import torch

from tlcore.config import RunConfig
from tlcore.features import cached_prefix, run_prefix
from tlcore.models import Backbone, build_backbone
from tlcore.rundata import RunData

MAX_SCORE_IMAGES = 5000  # training images scored per backbone; beyond, a stratified sample

# Scores and distances run with one BLAS thread. On a 2-core machine that is also training
# (the app's worker, another session), OpenBLAS's threads wait for a busy core: measured
# here, the SVD at the heart of LogME took 2.6 s on 1000 x 128 features with 2 threads and
# 0.012 s with 1 (5000 x 1280: 23.7 s vs 2.3 s). On an idle machine one thread costs at
# most the speed-up of the extra cores, on a busy one it avoids a 10-200x slow-down.
BLAS_THREADS = 1


def build_for(cfg: RunConfig, name: str) -> Backbone:
    """``name`` with its pretrained default weights, or ``cfg``'s weights and size if it is
    ``cfg``'s backbone. The head is the pretrained (source-task) classifier."""
    own = name == cfg.backbone
    return build_backbone(name, weights=cfg.weights if own else None,
                          input_size=cfg.input_size if own else None)


def cached_features(bb: Backbone, images: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Pretrained features ``[N, D]`` of uint8 ``images [N, C, H, W]``; (features, cache hit).

    The disk-cache key is the content: the weights files, the preprocessing and a sha256 of
    the image bytes. Keys made of names (dataset, seed, budget) go stale when a split rule or
    a loader changes under the same names (it happened while this was written: the
    trainer's key now carries a hand-bumped ``SPLIT_RULE``); hashing a few MB of uint8
    pixels costs milliseconds and cannot. Randomly initialised weights are never cached.
    """
    net = bb.net.eval()
    key = None
    if bb.weights.pretrained:
        pixels = hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest()
        key = {"advisor": 1, "backbone": bb.spec.name, "weights": bb.provenance.files,
               "preprocess": dataclasses.asdict(bb.preprocess), "images": pixels,
               "shape": list(images.shape), "cut": len(net.stages)}
    computed = []

    def compute() -> torch.Tensor:
        computed.append(True)
        return run_prefix(net, bb.preprocess(images), len(net.stages))

    return cached_prefix(key, compute), not computed


def train_index(cfg: RunConfig, data: RunData) -> torch.Tensor:
    """The task's labelled training indices, or a stratified sample of ``MAX_SCORE_IMAGES``
    of them (seeded by ``cfg.seed``) when there are more."""
    train = data.splits.train
    if len(train) <= MAX_SCORE_IMAGES:
        return train
    labels = data.source.labels[train].numpy()
    rng = np.random.default_rng(cfg.seed)
    per = MAX_SCORE_IMAGES // data.num_classes
    keep = [rng.permutation(np.flatnonzero(labels == c))[:per] for c in range(data.num_classes)]
    return train[torch.from_numpy(np.sort(np.concatenate(keep)))]


def task_features(cfg: RunConfig, bb: Backbone, data: RunData,
                   split: str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Pretrained features and labels of the task's ``"train"`` (at most
    ``MAX_SCORE_IMAGES``) or ``"test"`` split; (features [N, D], labels [N], cache hit)."""
    index = train_index(cfg, data) if split == "train" else data.splits.test
    feats, hit = cached_features(bb, data.source.images[index])
    return feats, data.source.labels[index], hit

