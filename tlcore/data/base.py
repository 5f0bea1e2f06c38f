"""The shapes every dataset source returns, and the dataset registry.

All images are kept as ``uint8`` tensors ``[N, C, H, W]`` at their native size
(C = 1 or 3). Resizing, channel conversion and normalisation belong to the backbone's
preprocessing (it travels with the weights), so one dataset serves every backbone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tlcore.registry import Registry

# torch is imported where tensors are made, not here: Home's first paint reads this
# registry (dataset names) and must not wait seconds for torch (tests/test_first_paint.py).
if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Provenance:
    """Where a dataset's files came from, so every run can say which data it used.

    ``files`` holds ``(path_or_name, sha256)`` pairs of the raw files read.
    """

    source: str
    licence: str
    files: tuple[tuple[str, str], ...] = ()
    url: str = ""
    notes: str = ""

    def text(self) -> str:
        parts = [self.source, f"licence: {self.licence}"]
        if self.notes:
            parts.append(self.notes)
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "licence": self.licence,
            "files": [{"path": p, "sha256": s} for p, s in self.files],
            "url": self.url,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Provenance:
        """Inverse of ``to_dict`` (the disk cache stores provenance as JSON)."""
        return cls(
            source=d["source"],
            licence=d["licence"],
            files=tuple((f["path"], f["sha256"]) for f in d.get("files", ())),
            url=d.get("url", ""),
            notes=d.get("notes", ""),
        )


@dataclass
class ImageDataset:
    """A labelled image pool.

    Shapes: ``images`` uint8 ``[N, C, H, W]``; ``labels`` int64 ``[N]`` in
    ``[0, len(class_names))``. ``official_test`` (bool ``[N]`` or None) marks the
    source's own test split where it has one.
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    provenance: Provenance
    official_test: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        import torch

        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"{self.name}: images must be uint8 [N, C, H, W], got "
                             f"{self.images.dtype} {tuple(self.images.shape)}")
        if self.images.shape[1] not in (1, 3):
            raise ValueError(f"{self.name}: images need 1 or 3 channels")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"{self.name}: {len(self.labels)} labels for {len(self.images)} images")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_counts(self) -> list[int]:
        import torch

        return torch.bincount(self.labels, minlength=self.num_classes).tolist()

    def subset(self, index: torch.Tensor, name: str | None = None) -> ImageDataset:
        return ImageDataset(
            name=name or self.name,
            images=self.images[index],
            labels=self.labels[index],
            class_names=self.class_names,
            provenance=self.provenance,
            official_test=None if self.official_test is None else self.official_test[index],
            meta=dict(self.meta),
        )


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""  # when unavailable: what is missing and how to get it


class DatasetUnavailable(RuntimeError):
    """A dataset's files are not on this machine (and could not be downloaded)."""


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry. ``load`` builds the full pool (callers cache it);
    ``check`` says cheaply whether ``load`` can work here and now."""

    name: str
    title: str
    description: str
    num_classes: int
    shape: tuple[int, int, int]  # native (C, H, W)
    load: Callable[[], ImageDataset]
    check: Callable[[], Availability]
    source: str  # short provenance text for listings
    licence: str
    # Bump when the decoded output changes; it is part of the disk-cache key.
    version: str = "1"
    # Cheap ``(path, sha256)`` of the raw files ``load`` would read now. None means
    # "not disk-cached" (derived datasets that are quick to rebuild from a cached parent).
    sources: Callable[[], tuple[tuple[str, str], ...]] | None = None


DATASETS: Registry[DatasetSpec] = Registry("dataset")
