"""Fashion-MNIST, offline from the Debian package, else torchvision's download; and the
two five-class halves used by the Yosinski A/B transfer experiment.

Debian's ``dataset-fashion-mnist`` puts the four gzip IDX files in
``/usr/share/datasets/fashion-mnist/``. The halves are derived in memory from the cached
full set (a boolean mask, well under a second), so they are not cached on disk again.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tlcore.data.base import DATASETS, Availability, DatasetSpec, ImageDataset, Provenance
from tlcore.data.cache import file_digests
from tlcore.data.sources._idx_set import (
    find_idx_set,
    read_idx_set,
    torchvision_download,
    torchvision_files,
)
from tlcore.paths import allow_download

# torch is imported inside the loader, not here: importing tlcore.data registers this source,
# and Home's first paint imports tlcore.data (for dataset names) without waiting for torch.

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
LICENCE = "MIT (Zalando SE)"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
INSTALL = "Install it with `apt-get install dataset-fashion-mnist`"


def _raw_files() -> list[Path] | None:
    return find_idx_set(DEBIAN_DIR) or torchvision_files("FashionMNIST")


def check() -> Availability:
    if _raw_files() is not None:
        return Availability(True)
    if allow_download():
        return Availability(True, "will download with torchvision")
    return Availability(False, f"Fashion-MNIST files not found. {INSTALL}, or set "
                               "TLAB_ALLOW_DOWNLOAD=1 on a machine with internet.")


def sources() -> tuple[tuple[str, str], ...]:
    return file_digests(_raw_files() or [])


def load() -> ImageDataset:
    debian = find_idx_set(DEBIAN_DIR)
    files = debian or torchvision_download("FashionMNIST", INSTALL)
    images, labels, official_test = read_idx_set(files)
    source = ("Debian dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)" if debian
              else "torchvision.datasets.FashionMNIST download (IDX files)")
    return ImageDataset(
        name="fashion_mnist",
        images=images,
        labels=labels,
        class_names=CLASSES,
        provenance=Provenance(
            source=source,
            licence=LICENCE,
            files=file_digests(files),
            url="https://github.com/zalandoresearch/fashion-mnist",
            notes="last 10,000 (t10k files) = official test",
        ),
        official_test=official_test,
        meta={"origin": "debian" if debian else "torchvision"},
    )


def _half(name: str, classes: range) -> ImageDataset:
    """Classes ``classes`` of Fashion-MNIST, relabelled ``0..len(classes)-1``."""
    import torch

    from tlcore.data.load import load_dataset  # the cached parent

    full = load_dataset("fashion_mnist")
    keep = (full.labels >= classes.start) & (full.labels < classes.stop)
    index = torch.nonzero(keep).squeeze(1)
    sub = full.subset(index, name=name)
    sub.labels = sub.labels - classes.start
    sub.class_names = CLASSES[classes.start:classes.stop]
    sub.provenance = replace(
        full.provenance,
        notes=f"classes {classes.start}-{classes.stop - 1} of fashion_mnist, relabelled "
              f"0-{len(classes) - 1}; {full.provenance.notes}",
    )
    sub.meta = {**full.meta, "parent": "fashion_mnist",
                "parent_classes": list(classes)}
    return sub


def load_a() -> ImageDataset:
    return _half("fashion_mnist_a", range(0, 5))


def load_b() -> ImageDataset:
    return _half("fashion_mnist_b", range(5, 10))


DATASETS.add(DatasetSpec(
    name="fashion_mnist",
    title="Fashion-MNIST",
    description="70,000 clothing images in 10 classes, 28x28 grey; last 10,000 = official test.",
    num_classes=10,
    shape=(1, 28, 28),
    load=load,
    check=check,
    source="Debian dataset-fashion-mnist (offline) or torchvision download",
    licence=LICENCE,
    version="1",
    sources=sources,
))

DATASETS.add(DatasetSpec(
    name="fashion_mnist_a",
    title="Fashion-MNIST A (classes 0-4)",
    description="T-shirt/top, Trouser, Pullover, Dress, Coat: task A of a Yosinski-style "
                "A/B split (35,000 images).",
    num_classes=5,
    shape=(1, 28, 28),
    load=load_a,
    check=check,
    source="derived from fashion_mnist",
    licence=LICENCE,
))

DATASETS.add(DatasetSpec(
    name="fashion_mnist_b",
    title="Fashion-MNIST B (classes 5-9)",
    description="Sandal, Shirt, Sneaker, Bag, Ankle boot relabelled 0-4: task B of a "
                "Yosinski-style A/B split (35,000 images).",
    num_classes=5,
    shape=(1, 28, 28),
    load=load_b,
    check=check,
    source="derived from fashion_mnist",
    licence=LICENCE,
))
