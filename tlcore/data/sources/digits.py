"""scikit-learn's 8x8 handwritten digits: a second, tiny digit domain.

1,797 images from 43 writers (UCI "Optical Recognition of Handwritten Digits"), none of
them MNIST's writers, at a much coarser resolution: a natural near-domain target for an
MNIST backbone. Pixel values are block counts 0-16, scaled here to 0-255.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tlcore.data.base import DATASETS, Availability, DatasetSpec, ImageDataset, Provenance
from tlcore.data.cache import file_digests
from tlcore.data.sources._common import DIGIT_CLASSES, dist_version, module_dir

# torch is imported inside the loader, not here: importing tlcore.data registers this source,
# and Home's first paint imports tlcore.data (for dataset names) without waiting for torch.

LICENCE = ("BSD-3-Clause (scikit-learn's copy); the UCI original is listed under "
           "CC BY 4.0 (Alpaydin & Kaynak)")


def _file() -> Path | None:
    d = module_dir("sklearn")
    p = None if d is None else d / "datasets" / "data" / "digits.csv.gz"
    return p if p is not None and p.is_file() else None


def check() -> Availability:
    if _file() is None:
        return Availability(False, "scikit-learn is not installed: `pip install scikit-learn`")
    return Availability(True)


def sources() -> tuple[tuple[str, str], ...]:
    f = _file()
    return file_digests([f] if f else [])


def load() -> ImageDataset:
    import torch
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64).reshape(-1, 1, 8, 8)
    images = np.clip(np.rint(x * 255.0 / 16.0), 0, 255).astype(np.uint8)
    return ImageDataset(
        name="digits",
        images=torch.from_numpy(images),
        labels=torch.from_numpy(np.asarray(bunch.target, dtype=np.int64)),
        class_names=DIGIT_CLASSES,
        provenance=Provenance(
            source=f"scikit-learn {dist_version('scikit-learn')} load_digits "
                   "(UCI Optical Recognition of Handwritten Digits, test part)",
            licence=LICENCE,
            files=sources(),
            url="https://archive.ics.uci.edu/dataset/80",
            notes="values 0-16 scaled to 0-255",
        ),
    )


DATASETS.add(DatasetSpec(
    name="digits",
    title="sklearn digits (8x8)",
    description="1,797 handwritten digits at 8x8 from writers other than MNIST's.",
    num_classes=10,
    shape=(1, 8, 8),
    load=load,
    check=check,
    source="scikit-learn load_digits",
    licence=LICENCE,
    version="1",
    sources=sources,
))
