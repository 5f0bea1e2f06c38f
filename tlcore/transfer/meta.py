"""The meta-dataset of transfer outcomes: one row per task, its cheap signals and what each
strategy scored on it.

A *task* is a dataset (or a shift of one), a label budget, a backbone and a seed. Its
*signals* are what can be measured before training anything, in seconds: the label
budget, the class count, the image size, the transferability scores of the backbone's
frozen features (LogME, LEEP, NCE, H-score), a k-NN accuracy on those features and the
proxy A-distance to the backbone's pretraining images. Its *outcomes* are the test
accuracy of each candidate strategy, read from finished runs in the store. The learned
advisor (``tlcore.transfer.learned``) fits signals -> outcomes; the collection that fills
the table lives in ``tlcore.transfer.collect``; the Strategy advisor page adds the rows of
its one-click checks to a table in the user's store (``user_table``).

A table is a JSON object ``{"rows": [...], ...}`` with whatever provenance the writer adds
(the command that made it, the date); rows are plain dicts so the file reads without this
code.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from tlcore.config import RunConfig
from tlcore.rundata import RunData, prepare
from tlcore.transfer.backbone_features import (
    BLAS_THREADS,
    build_for,
    cached_features,
    task_features,
)
from tlcore.transfer.scoring import score_backbones
from tlcore.transfer.similarity import similarity

# The candidate strategies whose accuracy a row records, in a fixed order (the classic
# rule ranks the first four; lp_ft is Kumar et al. 2022's linear probe, then fine-tune).
STRATEGIES = ("scratch", "feature_extraction", "finetune_top", "finetune_all", "lp_ft")

# The signals of a task, in the order the learned model reads them. None where a signal
# cannot be computed (H-score at N <= D, an A-distance without offline pretraining data).
SIGNALS = ("log2_labels_per_class", "num_classes", "image_size", "channels", "logme", "leep", "nce",
           "h_score", "knn_accuracy", "a_distance", "log10_backbone_params")

SHIPPED_TABLE = Path(__file__).resolve().parents[2] / "assets" / "results" / "advisor_meta.json"
USER_TABLE = "advisor_meta.json"  # inside a store folder: the rows of that store's checks


def family(domain: str) -> str:
    """The dataset a task's images come from, for leave-one-dataset-out: shifts of a dataset
    and its class subsets (``fashion_mnist_a``) belong to it, so holding a dataset out holds
    out everything made from its images."""
    base = domain.split(":", 1)[0]
    return "fashion_mnist" if base.startswith("fashion_mnist") else base


def _finite(v: float | None) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


def knn_accuracy(cfg: RunConfig, data: RunData, neighbours: int = 5) -> float:
    """Accuracy on the validation images of a k-NN classifier on the backbone's frozen
    features of the labelled training images (cosine distance, k at most the labels per
    class). The validation split, not the test split: it is what a user has before training,
    and the test accuracy is the outcome the signals must predict."""
    from sklearn.neighbors import KNeighborsClassifier

    bb = build_for(cfg, cfg.backbone)
    train, labels, _ = task_features(cfg, bb, data, "train")
    val, _ = cached_features(bb, data.source.images[data.splits.val])
    per_class = int(np.bincount(labels.numpy()).min())
    knn = KNeighborsClassifier(n_neighbors=max(1, min(neighbours, per_class)), metric="cosine")
    with threadpool_limits(BLAS_THREADS, user_api="blas"):
        knn.fit(train.numpy(), labels.numpy())
        return float(knn.score(val.numpy(), data.source.labels[data.splits.val].numpy()))


def task_signals(cfg: RunConfig, data: RunData | None = None) -> dict[str, float | None]:
    """Every signal of ``cfg``'s task on ``cfg.backbone`` (features cached on disk: a second
    call costs milliseconds). Needs no training."""
    data = data or prepare(cfg)
    [score] = score_backbones(cfg, [cfg.backbone], data=data)
    sim = similarity(cfg, data)
    bb = build_for(cfg, cfg.backbone)
    per_class = np.bincount(data.source.labels[data.splits.train].numpy(), minlength=data.num_classes)
    params = sum(p.numel() for p in bb.net.parameters())
    return {"log2_labels_per_class": math.log2(max(1, int(per_class.min()))),
            "num_classes": float(data.num_classes),
            "image_size": float(data.source.images.shape[-1]),
            "channels": float(data.source.images.shape[1]),
            **{s: _finite(score.scores.get(s)) for s in ("logme", "leep", "nce", "h_score")},
            "knn_accuracy": knn_accuracy(cfg, data),
            "a_distance": _finite(sim.a_distance),
            "log10_backbone_params": math.log10(params)}


def task_key(cfg: RunConfig) -> str:
    """A row's identity: the task's config with the strategy blanked (its run id)."""
    return cfg.replace(strategy="feature_extraction").run_id()


def make_row(cfg: RunConfig, signals: dict[str, float | None], accuracy: dict[str, float],
             run_ids: dict[str, str], source: str) -> dict:
    """One row of the table. ``source`` says where it came from ("collect", "check")."""
    return {"key": task_key(cfg), "dataset": cfg.dataset, "family": family(cfg.dataset),
            "backbone": cfg.backbone, "labels_per_class": cfg.labels_per_class, "seed": cfg.seed,
            "epochs": cfg.epochs, "signals": signals,
            "accuracy": {s: accuracy[s] for s in STRATEGIES if s in accuracy},
            "run_ids": run_ids, "source": source}


def load_table(path: str | os.PathLike) -> dict:
    """A table as written by ``save_table``; an empty one if the file does not exist."""
    p = Path(path)
    if not p.exists():
        return {"rows": []}
    table = json.loads(p.read_text())
    if not isinstance(table, dict) or not isinstance(table.get("rows"), list):
        raise ValueError(f"{p} is not a meta-dataset table (a JSON object with a list of rows)")
    return table


def save_table(path: str | os.PathLike, table: dict) -> None:
    """Write atomically (a temporary file, then a rename), so an interruption mid-write
    leaves the previous table whole: collection resumes from it. The temporary file is
    named by process and thread: two sessions of one server saving at once must not write
    into the same one."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f"{p.name}.tmp{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(json.dumps(table, indent=1) + "\n")
    os.replace(tmp, p)


def merge_rows(table: dict, rows: Iterable[dict]) -> dict:
    """``table`` with ``rows`` added; a row with the key of one already there replaces it."""
    by_key = {r["key"]: r for r in table["rows"]}
    for r in rows:
        by_key[r["key"]] = r
    return {**table, "rows": list(by_key.values())}


def user_table(store_root: str | os.PathLike) -> Path:
    """Where a store keeps the rows its advisor checks added."""
    return Path(store_root) / USER_TABLE


def complete_rows(rows: Sequence[dict], strategies: Sequence[str] = STRATEGIES) -> list[dict]:
    """Rows with an accuracy for every one of ``strategies`` (what fitting needs)."""
    return [r for r in rows if all(s in r["accuracy"] for s in strategies)]
