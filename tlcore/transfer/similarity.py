"""The two measured axes of the advice: how much labelled data the task has, and how close its
images are to a backbone's pretraining images.

:func:`size` counts the labelled training images (``Size``: small / large by
``SMALL_PER_CLASS``); :func:`similarity` measures the proxy A-distance and MMD² between the
backbone's pretrained features of held-out pretraining images and of the task's images
(``Similarity``: similar / dissimilar by ``SIMILAR_BELOW``, or unknown).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from tlcore.config import RunConfig
from tlcore.data import load_dataset
from tlcore.models import BACKBONES, Backbone
from tlcore.models.lab import read_card
from tlcore.models.pretrain import lab_split
from tlcore.rundata import RunData, prepare
from tlcore.transfer.advice_types import Similarity, Size
from tlcore.transfer.backbone_features import (
    BLAS_THREADS,
    build_for,
    cached_features,
    task_features,
)
from tlcore.transfer.domain import mmd2, proxy_a_distance
from tlcore.transfer.rules import SIMILAR_BELOW, SMALL_PER_CLASS

SOURCE_SAMPLE = 500  # held-out pretraining images per similarity measurement


def size(cfg: RunConfig, data: RunData | None = None, threshold: int = SMALL_PER_CLASS) -> Size:
    """Labelled training images of ``cfg``'s task, and small / large by ``threshold`` per class."""
    data = data or prepare(cfg)
    counts = torch.bincount(data.source.labels[data.splits.train], minlength=data.num_classes)
    per_class = {str(n): int(c) for n, c in zip(data.source.class_names, counts, strict=True)}
    low = int(counts.min())
    call = "small" if low < threshold else "large"
    why = (f"{low} labelled images in the scarcest class, {'under' if call == 'small' else 'at least'} "
           f"{threshold} per class (VTAB-1k's low-data regime: 1,000 images for ~10 classes)")
    return Size(data.source.name, len(data.splits.train), per_class, low, call, threshold, why)


def pretraining_dataset(backbone: str) -> str | None:
    """The dataset ``backbone`` was pretrained on if it can be loaded offline (the lab zoo's
    model card), else None (ImageNet backbones: ImageNet is not shipped)."""
    spec = BACKBONES.get(backbone)
    if "lab" not in spec.tags:
        return None
    try:
        return read_card(backbone)["dataset"]
    except (OSError, KeyError):
        return None


def _source_features(bb: Backbone, dataset: str, n: int, seed: int) -> tuple[torch.Tensor, bool]:
    """Features of ``n`` held-out images of the pretraining dataset (the part the zoo model
    was *not* trained on: ``lab_split``'s test part), sampled by ``seed``. Held-out, because
    features of memorised training images are not what the pretraining distribution looks
    like to the network."""
    ds = load_dataset(dataset)
    _, held_out = lab_split(ds)
    rng = np.random.default_rng(seed)
    pick = held_out[torch.from_numpy(np.sort(rng.permutation(len(held_out))[:n]))]
    return cached_features(bb, ds.images[pick])


def similarity(cfg: RunConfig, data: RunData | None = None, threshold: float = SIMILAR_BELOW,
               n_source: int = SOURCE_SAMPLE) -> Similarity:
    """Proxy A-distance and MMD² between ``cfg.backbone``'s pretraining images and the task's
    images (training and test splits), both in the backbone's pretrained feature space.

    "similar" when the A-distance is under ``threshold``. For a backbone whose pretraining
    data is not available offline (ImageNet) nothing is measured and the call is "unknown":
    a stand-in dataset would measure the distance to the stand-in, not to ImageNet, and a
    transferability score is not a distance (it is already used to rank the backbones).
    """
    t0 = time.perf_counter()
    data = data or prepare(cfg)
    source = pretraining_dataset(cfg.backbone) if cfg.weights != "none" else None
    task = data.source.name
    if source is None:
        why = (f"{cfg.backbone}'s pretraining data is not available offline, so its distance to "
               f"{task} cannot be measured" if cfg.weights != "none" else
               f"{cfg.backbone} with random weights has no pretraining data to be close to")
        return Similarity(cfg.backbone, None, task, None, None, 0, 0, "unknown", threshold, why,
                          time.perf_counter() - t0)
    bb = build_for(cfg, cfg.backbone)
    fs, _ = _source_features(bb, source, n_source, cfg.seed)
    ft = torch.cat([task_features(cfg, bb, data, s)[0] for s in ("train", "test")])
    with threadpool_limits(BLAS_THREADS, user_api="blas"):
        pad = proxy_a_distance(fs.numpy(), ft.numpy(), seed=cfg.seed)
        m2 = mmd2(fs.numpy(), ft.numpy(), seed=cfg.seed)
    call = "similar" if pad < threshold else "dissimilar"
    why = (f"proxy A-distance {pad:.2f} between {len(fs)} held-out {source} images and "
           f"{len(ft)} {task} images in {cfg.backbone}'s features, "
           f"{'under' if call == 'similar' else 'at least'} {threshold:g}")
    return Similarity(cfg.backbone, source, task, pad, m2, len(fs), len(ft), call, threshold, why,
                      time.perf_counter() - t0)
