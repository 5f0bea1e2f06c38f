"""Run configuration: one frozen dataclass whose stable hash is the run's identity.

Everything that changes a run's numbers is a field here, so the same config always
means the same result (CPU runs are deterministic) and the store can answer "was this
already run?" by id alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from tlcore.optim import OPTIMIZERS, SCHEDULES

BN_POLICIES = {
    "frozen": "BatchNorm in frozen groups keeps its ImageNet/source statistics and affine "
              "parameters (timm's choice). Frozen layers are then a fixed function, so their "
              "output can be computed once (the fast path).",
    "stats": "BatchNorm in frozen groups re-estimates its statistics on the new data; its "
             "affine parameters stay fixed (what PyTorch does if you only set requires_grad=False).",
    "affine": "BatchNorm in frozen groups keeps its statistics but trains its scale and shift "
              "(a cheap way to adapt a frozen network).",
    "train": "BatchNorm in frozen groups trains both statistics and affine parameters "
             "(fastai's train_bn=True).",
}


# Part of every run id. Bump it when the same config would now give different numbers, so
# stores made before are not answered with stale results (their runs stay listed under
# their old ids). 2: test images come only from held-out images (tlcore.rundata).
RESULTS_VERSION = 2


@dataclass(frozen=True)
class RunConfig:
    """One training run. ``dataset`` and ``target`` are domain strings
    (``"mnist"``, ``"mnist:rotate=3"``, or a folder/zip path)."""

    backbone: str = "lab_synth_digits"
    weights: str | None = None  # None: the backbone's pretrained default; "none": random
    input_size: int | None = None  # None: the backbone's suggested size
    dataset: str = "mnist"
    target: str | None = None
    strategy: str = "feature_extraction"
    labels_per_class: int | None = 10  # None: every training image
    val_per_class: int = 10
    test_per_class: int = 50
    epochs: int = 15
    batch_size: int = 16  # small: with 10 labels per class an epoch is only ~7 steps
    lr: float = 1e-2  # head learning rate (cosine-decayed)
    backbone_lr_mult: float = 0.1  # discriminative LR: backbone groups at lr * this
    lr_mults: tuple[tuple[str, float], ...] = ()  # per-group overrides of the multiplier
    weight_decay: float = 1e-4
    optimizer: str = "adam"
    schedule: str = "cosine"  # cosine decay to 0 over the run, or "constant"
    bn_policy: str = "frozen"
    # Strategy settings (tlcore.strategies.knobs): two have fields of their own, from before
    # knobs existed, so their run ids stay; every other one lives in ``extra``.
    top_k: int = 1  # finetune_top: how many groups below the head train
    trainable_groups: tuple[str, ...] | None = None  # custom freeze plan (strategy "custom")
    probe_epochs: int = 3  # lp_ft: linear-probe epochs before fine-tuning
    augment: bool = False
    seed: int = 0
    device: str = "cpu"
    extra: tuple[tuple[str, float], ...] = field(default=())  # (knob, value), sorted, defaults left out

    def __post_init__(self) -> None:
        if self.bn_policy not in BN_POLICIES:
            raise ValueError(f"bn_policy must be one of {', '.join(BN_POLICIES)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if not self.lr > 0:
            raise ValueError("lr must be positive")
        if self.labels_per_class is not None and self.labels_per_class < 1:
            raise ValueError("labels_per_class must be at least 1 (or None for all)")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["lr_mults"] = [list(p) for p in self.lr_mults]
        d["extra"] = [list(p) for p in self.extra]
        if self.trainable_groups is not None:
            d["trainable_groups"] = list(self.trainable_groups)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        d = dict(d)
        for key in ("lr_mults", "extra"):
            if key in d:
                d[key] = tuple((str(k), float(v)) for k, v in d[key])
        if d.get("trainable_groups") is not None:
            d["trainable_groups"] = tuple(d["trainable_groups"])
        return cls(**d)

    def run_id(self) -> str:
        blob = json.dumps({**self.to_dict(), "results_version": RESULTS_VERSION}, sort_keys=True,
                          separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def replace(self, **changes) -> RunConfig:
        return dataclasses.replace(self, **changes)

