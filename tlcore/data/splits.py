"""Stratified train / val / test index splits with a per-class label budget.

Transfer learning is compared at small label budgets ("10 labels per class"), so the
split draws exact per-class counts rather than fractions.

Two seeds, on purpose. The test split depends only on ``split_seed`` (default 0) and
the labels, never on the run seed, so runs with different seeds are scored on one and
the same test set and their numbers can be compared; only the training labels and the
validation set change with ``seed``. Each class draws from its own generator, so a
class's test images do not change when other classes grow or shrink.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

# torch is imported where tensors are made, not here: Home's first paint imports tlcore.data
# (for dataset names) and must not wait seconds for torch.
if TYPE_CHECKING:
    import torch


@dataclass(frozen=True, eq=False)
class Splits:
    """Disjoint, sorted int64 index tensors into one dataset."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def _class_name(c: int, class_names: Sequence[str] | None) -> str:
    if class_names is not None and 0 <= c < len(class_names):
        return f"{c} ({class_names[c]!r})"
    return str(c)


def _int_labels(labels: torch.Tensor | np.ndarray | Sequence[int]) -> np.ndarray:
    """int64 ``[N]``; ``ValueError`` for float or bool labels (a mask or a score passed by
    mistake would otherwise split as classes 0/1 or as hundreds of classes)."""
    import torch

    y = torch.as_tensor(np.asarray(labels)).reshape(-1)
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"labels must be integers, got {y.dtype}")
    return y.numpy().astype(np.int64)


def _check_budgets(labels_per_class: int | None, val_per_class: int, test_per_class: int) -> None:
    for what, v in (("val_per_class", val_per_class), ("test_per_class", test_per_class)):
        if v < 0:
            raise ValueError(f"{what} must be >= 0, got {v}")
    if labels_per_class is not None and labels_per_class < 1:
        raise ValueError(f"labels_per_class must be >= 1 (or None for all), got {labels_per_class}")


def _as_pool(test_pool: torch.Tensor | None, n: int) -> np.ndarray | None:
    """bool ``[n]`` or None; ``ValueError`` when its length is not the labels'."""
    if test_pool is None:
        return None
    import torch

    pool = torch.as_tensor(test_pool).reshape(-1).numpy().astype(bool)
    if len(pool) != n:
        raise ValueError(f"test_pool has {len(pool)} entries for {n} labels")
    return pool


def _check_class_sizes(y: np.ndarray, classes: np.ndarray, counts: np.ndarray,
                       pool: np.ndarray | None, labels_per_class: int | None,
                       val_per_class: int, test_per_class: int,
                       class_names: Sequence[str] | None) -> None:
    """``ValueError`` naming the first class too small for the requested counts (with a
    pool: too few held-out images for test, or too few others for val + train)."""
    need_train = labels_per_class if labels_per_class is not None else 1
    need = test_per_class + val_per_class + need_train
    for c, n in zip(classes, counts, strict=True):
        if pool is not None:
            n_test = int(pool[y == c].sum())
            n_rest = int(n - n_test)
            if n_test < test_per_class or n_rest < val_per_class + need_train:
                raise ValueError(
                    f"class {_class_name(int(c), class_names)} has {n_test} held-out images for "
                    f"{test_per_class} test and {n_rest} others for {val_per_class} val + "
                    f"{need_train} train per class")
        elif n < need:
            train_txt = (f"{labels_per_class} train" if labels_per_class is not None
                         else "at least 1 train")
            raise ValueError(
                f"class {_class_name(int(c), class_names)} has {n} images, but the split asks "
                f"for {test_per_class} test + {val_per_class} val + {train_txt} = {need} per "
                f"class; the smallest class has {counts.min()} images"
            )


def _split_class(idx: np.ndarray, c: int, pool: np.ndarray | None, *, labels_per_class: int | None,
                 val_per_class: int, test_per_class: int, seed: int, split_seed: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) indices of one class, ``idx`` its sorted indices. The test draw
    uses only ``[split_seed, c]``, the val/train draw ``[seed, c, 1]``: these generator
    seeds fix every run's numbers, so they must never change."""
    if pool is None:
        idx = np.random.default_rng([split_seed, c]).permutation(idx)
        test = idx[:test_per_class]
        others = idx[test_per_class:]
    else:
        held = np.random.default_rng([split_seed, c]).permutation(idx[pool[idx]])
        test = held[:test_per_class]
        others = idx[~pool[idx]]
    rest = np.random.default_rng([seed, c, 1]).permutation(np.sort(others))
    stop = None if labels_per_class is None else val_per_class + labels_per_class
    return rest[val_per_class:stop], rest[:val_per_class], test


def stratified_splits(
    labels: torch.Tensor | np.ndarray | Sequence[int],
    *,
    labels_per_class: int | None,
    val_per_class: int,
    test_per_class: int,
    seed: int,
    split_seed: int = 0,
    class_names: Sequence[str] | None = None,
    test_pool: torch.Tensor | None = None,
) -> Splits:
    """Per class: ``test_per_class`` test images (from ``split_seed``), then
    ``val_per_class`` validation and ``labels_per_class`` training images (from
    ``seed``) out of the rest; ``labels_per_class=None`` trains on all the rest.

    labels: int ``[N]``. ``test_pool`` (bool ``[N]``, optional): test images come only from
    where it is True and train/val images only from where it is False (``holdout_mask``:
    images a lab-zoo model was pretrained on must never score a run). Raises
    ``ValueError`` for fewer than two classes, negative counts, or a class too small for
    the requested counts (naming it).
    """
    y_np = _int_labels(labels)
    _check_budgets(labels_per_class, val_per_class, test_per_class)
    classes, counts = np.unique(y_np, return_counts=True)
    if len(classes) < 2:
        only = "no labels" if len(classes) == 0 else f"only class {_class_name(int(classes[0]), class_names)}"
        raise ValueError(f"a classification split needs at least two classes; got {only}")
    pool = _as_pool(test_pool, len(y_np))
    _check_class_sizes(y_np, classes, counts, pool, labels_per_class, val_per_class,
                       test_per_class, class_names)

    train, val, test = [], [], []
    for c in classes:
        idx = np.flatnonzero(y_np == c)  # sorted, so the draw depends only on the labels
        tr, va, te = _split_class(idx, int(c), pool, labels_per_class=labels_per_class,
                                  val_per_class=val_per_class, test_per_class=test_per_class,
                                  seed=seed, split_seed=split_seed)
        train.append(tr)
        val.append(va)
        test.append(te)

    def cat(parts: list[np.ndarray]) -> torch.Tensor:
        import torch

        return torch.from_numpy(np.sort(np.concatenate(parts)).astype(np.int64))

    return Splits(train=cat(train), val=cat(val), test=cat(test))


def holdout_mask(labels: torch.Tensor, official_test: torch.Tensor | None) -> torch.Tensor:
    """bool ``[N]``: the images the lab zoo never pretrains on, which runs score on.

    The source's official test split where it has one (MNIST, Fashion-MNIST, MNIST-M);
    else a fifth of each class's smallest count per class (at least one), drawn with
    split seed 0."""
    import torch

    if official_test is not None and bool(official_test.any()):
        return official_test.clone()
    y = torch.as_tensor(labels)
    per_class = int(torch.bincount(y).min())
    s = stratified_splits(y, labels_per_class=None, val_per_class=0,
                          test_per_class=max(1, per_class // 5), seed=0)
    mask = torch.zeros(len(y), dtype=torch.bool)
    mask[s.test] = True
    return mask
