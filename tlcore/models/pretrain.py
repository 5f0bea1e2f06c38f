"""Pretraining the lab zoo (``tlcore pretrain NAME``) and checking it against its card.

The card records what a user needs to trust a zoo model: the data (with provenance),
seed, epochs, the test split it was scored on, its accuracy there, and the weights'
sha256. ``evaluate`` recomputes that accuracy; a test holds every card to it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from tlcore.augment import random_shift
from tlcore.data import ImageDataset, load_dataset
from tlcore.data.splits import holdout_mask
from tlcore.paths import sha256_file

from .base import GroupedNet
from .lab import LAB_DIR, LAB_PREPROCESS, LAB_SOURCES, card_path, lab_resnet, weights_path

Progress = Callable[[str], None]


def lab_split(ds: ImageDataset, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) indices: the source's official test split where it has one,
    else a stratified 20% held out with split seed 0 (``holdout_mask``; runs score on the
    same held-out images, so a lab model is never tested on what it learnt)."""
    held = holdout_mask(ds.labels, ds.official_test)
    return torch.nonzero(~held).flatten(), torch.nonzero(held).flatten()


@torch.no_grad()
def accuracy(net: GroupedNet, ds: ImageDataset, index: torch.Tensor, batch: int = 512) -> float:
    net.eval()
    correct = 0
    for k in range(0, len(index), batch):
        idx = index[k:k + batch]
        pred = net(LAB_PREPROCESS(ds.images[idx])).argmax(1)
        correct += int((pred == ds.labels[idx]).sum())
    return correct / max(1, len(index))


def pretrain(name: str, *, seed: int = 0, epochs: int | None = None,
             progress: Progress | None = None) -> dict:
    """Train zoo entry ``name`` on its source task, write weights + card, return the card."""
    src = LAB_SOURCES[name]
    say = progress or (lambda msg: None)
    ds = load_dataset(src.dataset)
    if ds.num_classes != src.num_classes:
        raise ValueError(f"{name} states {src.num_classes} classes but {src.dataset} has "
                         f"{ds.num_classes}: fix LAB_SOURCES in tlcore/models/lab.py")
    train, test = lab_split(ds)
    gen = torch.Generator().manual_seed(seed)
    if src.max_train is not None and len(train) > src.max_train:
        train = train[torch.randperm(len(train), generator=gen)[: src.max_train]]
    torch.manual_seed(seed)
    net = lab_resnet(src.num_classes)
    n_epochs = epochs or src.epochs
    opt = torch.optim.AdamW(net.parameters(), lr=src.lr, weight_decay=5e-4)
    steps = n_epochs * ((len(train) + src.batch_size - 1) // src.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=src.lr, total_steps=steps)
    t0 = time.time()
    for epoch in range(n_epochs):
        net.train()
        order = train[torch.randperm(len(train), generator=gen)]
        total = 0.0
        for k in range(0, len(order), src.batch_size):
            idx = order[k:k + src.batch_size]
            x = random_shift(LAB_PREPROCESS(ds.images[idx]), gen)
            loss = F.cross_entropy(net(x), ds.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        say(f"{name} epoch {epoch + 1}/{n_epochs}: train loss {total / len(order):.4f} "
            f"({time.time() - t0:.0f} s)")
    acc = accuracy(net, ds, test)
    say(f"{name}: test accuracy {acc:.4f} on {len(test)} images")
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    tmp = weights_path(name).with_suffix(".tmp")
    torch.save({k: v.clone() for k, v in net.state_dict().items()}, tmp)
    os.replace(tmp, weights_path(name))
    card = {
        "name": name,
        "architecture": "lab_resnet (tlcore/models/lab.py)",
        "parameters": sum(p.numel() for p in net.parameters()),
        "input": LAB_PREPROCESS.to_dict(),
        "dataset": src.dataset,
        "data_provenance": ds.provenance.to_dict(),
        "classes": list(ds.class_names),
        "num_classes": src.num_classes,
        "train_images": len(train),
        "test_split": "official test split" if ds.official_test is not None and bool(ds.official_test.any())
        else "stratified 20% per class, split seed 0",
        "test_images": len(test),
        "test_accuracy": round(acc, 4),
        "seed": seed,
        "epochs": n_epochs,
        "optimizer": f"AdamW lr {src.lr} wd 5e-4, OneCycle, batch {src.batch_size}, +-2 px shifts",
        "seconds": round(time.time() - t0, 1),
        "torch": torch.__version__,
        "sha256": sha256_file(weights_path(name)),
        "licence": "MIT (weights, this project); the data keeps its own licence (data_provenance)",
    }
    card_path(name).write_text(json.dumps(card, indent=2) + "\n")
    return card


def evaluate(name: str) -> tuple[float, dict]:
    """Recompute a zoo model's test accuracy the way its card was made."""
    from . import build_backbone

    src = LAB_SOURCES[name]
    bb = build_backbone(name)
    ds = load_dataset(src.dataset)
    _, test = lab_split(ds)
    card = json.loads(card_path(name).read_text())
    return accuracy(bb.net, ds, test), card
