"""Reading a network during and after training: losses and accuracies, confusion matrices,
features for embeddings, and the domain measures between source and target.

Everything here runs without gradients in eval mode and restores the net's mode; the
trainer (``tlcore.train``) calls it after every epoch and once at the end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EVAL_BATCH = 128  # images per forward pass when scoring (no gradients, so larger than training's)
SNAPSHOT_PER_CLASS = 20  # images per class and domain whose features are kept every epoch


@torch.no_grad()
def evaluate(net, x: torch.Tensor, y: torch.Tensor, k: int, device,
             batch: int = EVAL_BATCH) -> tuple[float, float, torch.Tensor]:
    """(mean loss, accuracy, class probabilities ``[N, C]``) of groups ``k:`` + head on
    prefix outputs ``x``; the predictions are ``probs.argmax(1)``."""
    net.eval()
    probs, total = [], 0.0
    for i in range(0, len(x), batch):
        xb, yb = x[i:i + batch].to(device), y[i:i + batch].to(device)
        logits = net.head(net.forward_features(xb, k))
        total += float(F.cross_entropy(logits, yb, reduction="sum"))
        probs.append(logits.softmax(1).cpu())
    pr = torch.cat(probs) if probs else torch.empty(0, net.head.out_features)
    p = pr.argmax(1)
    return total / max(1, len(y)), float((p == y).float().mean()) if len(y) else float("nan"), pr


def confusion(y: torch.Tensor, p: torch.Tensor, n: int) -> torch.Tensor:
    return torch.bincount(y * n + p, minlength=n * n).reshape(n, n)


def per_class_accuracy(cm: torch.Tensor) -> list[float]:
    return (cm.diag().float() / cm.sum(1).clamp(min=1).float()).tolist()


@torch.no_grad()
def features(net, x: dict[str, torch.Tensor], k: int, device, batch: int = EVAL_BATCH) -> dict[str, torch.Tensor]:
    """Features ``[N, D]`` (on the CPU) of groups ``k:`` in eval mode, per split of ``x``
    (inputs at cut ``k``); the net's train/eval mode is restored."""
    was = net.training
    net.eval()
    out = {split: torch.cat([net.forward_features(v[i:i + batch].to(device), k).cpu()
                             for i in range(0, len(v), batch)]) for split, v in x.items()}
    net.train(was)
    return out


def domain_measures(feats: dict[str, torch.Tensor]) -> dict[str, float]:
    """Proxy A-distance and MMD^2 between source-test and target-test features."""
    from tlcore.transfer.domain import mmd2, proxy_a_distance

    fs, ft = feats["test"].numpy(), feats["target"].numpy()
    return {"a_distance": proxy_a_distance(fs, ft), "mmd2": mmd2(fs, ft)}


class Snapshots:
    """Features of a fixed sample of source-test and target-test images after every epoch
    (and before the first), for embeddings that move over training and an A-distance curve.

    ``SNAPSHOT_PER_CLASS`` images per class and domain keep this cheap: one forward pass of
    a few hundred images per epoch, ~20 KB of float16 per epoch for a 128-d lab net."""

    def __init__(self, y: dict[str, torch.Tensor], num_classes: int) -> None:
        self.index = {}
        for split in ("test", "target"):
            self.index[split] = torch.cat([torch.nonzero(y[split] == c).flatten()[:SNAPSHOT_PER_CLASS]
                                           for c in range(num_classes)]).sort().values
        self.feats: dict[str, list[torch.Tensor]] = {s: [] for s in self.index}

    def take(self, net, x: dict[str, torch.Tensor], k: int, device) -> float:
        """Record the features of the sampled rows of ``x`` (inputs at cut ``k``)."""
        return self.record(features(net, {s: x[s][idx] for s, idx in self.index.items()}, k, device))

    def record(self, feats: dict[str, torch.Tensor]) -> float:
        """Keep one epoch's features of the sampled rows (``feats[split]`` ``[n, D]``, in
        ``index`` order); return the proxy A-distance between the two domains."""
        from tlcore.transfer.domain import proxy_a_distance

        for split in self.index:
            self.feats[split].append(feats[split])
        return proxy_a_distance(feats["test"].numpy(), feats["target"].numpy())

    def artifacts(self) -> dict:
        """``snapshots_{test,target}``: float16 ``[epochs + 1, n, D]`` (row 0 before training);
        ``snapshot_index_{test,target}``: the rows of each test split they describe."""
        out = {}
        for split, idx in self.index.items():
            out[f"snapshots_{split}"] = torch.stack(self.feats[split]).half()
            out[f"snapshot_index_{split}"] = idx
        return out
