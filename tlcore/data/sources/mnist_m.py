"""MNIST-M: every MNIST digit blended with a random colour photo patch.

Ganin et al. 2016 built it as ``|digit - patch|`` per channel, where the patch is a
random crop of a BSDS500 photo: the digit keeps its shape but its colours and texture
come from the photo, a classic unsupervised domain-adaptation target. BSDS500 is not on
this machine, so the patches come from the photos bundled with scikit-learn and
scikit-image (``tlcore.data.photos``); the DESIGN notes report that DANN's gain grows
with texture variety, which is why all available photos are used, at native resolution.

All 70,000 digits (same order, labels and official test mask as ``mnist``) are blended
with vectorised numpy from one fixed seed: one photo per digit, then one crop position.
"""

from __future__ import annotations

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
from tlcore.data.photos import Photo, load_photos, photo_paths
from tlcore.data.sources import mnist

# torch is imported inside the loader, not here: importing tlcore.data registers this source,
# and Home's first paint imports tlcore.data (for dataset names) without waiting for torch.

SEED = 0
SIZE = 28
LICENCE = f"{mnist.LICENCE}; photo patches under their own licences (listed in provenance)"


def blend(digits: np.ndarray, photos: tuple[Photo, ...], seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """``|digit - patch|`` per channel.

    digits: uint8 ``[N, 28, 28]``. Returns uint8 ``[N, 3, 28, 28]`` and the photo index
    per image ``[N]``. The random draws do not depend on how the work is grouped, so the
    result is a function of ``(digits, photos, seed)`` only.
    """
    rng = np.random.default_rng(seed)
    n = len(digits)
    which = rng.integers(0, len(photos), n)
    u = rng.random((n, 2))
    out = np.empty((n, SIZE, SIZE, 3), np.uint8)
    ar = np.arange(SIZE)
    for k, photo in enumerate(photos):
        idx = np.nonzero(which == k)[0]
        h, w = photo.pixels.shape[:2]
        y0 = (u[idx, 0] * (h - SIZE + 1)).astype(np.int64)
        x0 = (u[idx, 1] * (w - SIZE + 1)).astype(np.int64)
        patch = photo.pixels[y0[:, None, None] + ar[None, :, None],
                             x0[:, None, None] + ar[None, None, :]]  # [n_k, 28, 28, 3]
        d = digits[idx][..., None].astype(np.int16)
        out[idx] = np.abs(patch.astype(np.int16) - d).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)), which


def check() -> Availability:
    base = mnist.check()
    if not base.available:
        return base
    if not photo_paths():
        return Availability(False, "no sample photos found; `pip install scikit-learn "
                                   "scikit-image` (both ship colour photos)")
    return Availability(True)


def sources() -> tuple[tuple[str, str], ...]:
    return mnist.sources() + file_digests([p for p, _, _ in photo_paths()])


def load() -> ImageDataset:
    import torch

    from tlcore.data.load import load_dataset  # the cached MNIST

    photos = load_photos()
    if not photos:
        raise DatasetUnavailable(check().reason or "no readable sample photos")
    base = load_dataset("mnist")
    images, which = blend(base.images[:, 0].numpy(), photos)
    counts = np.bincount(which, minlength=len(photos)).tolist()
    return ImageDataset(
        name="mnist_m",
        images=torch.from_numpy(images),
        labels=base.labels.clone(),
        class_names=base.class_names,
        provenance=Provenance(
            source=f"MNIST ({base.provenance.source}) blended with patches of "
                   f"{len(photos)} sample photos: |digit - patch| (Ganin et al. 2016), seed {SEED}",
            licence=LICENCE,
            files=base.provenance.files + tuple((p.path, p.sha256) for p in photos),
            notes="photos: " + "; ".join(f"{p.name}: {p.licence}" for p in photos),
        ),
        official_test=None if base.official_test is None else base.official_test.clone(),
        meta={
            "seed": SEED,
            "photos": [{**p.to_dict(), "images": k} for p, k in zip(photos, counts, strict=True)],
        },
    )


DATASETS.add(DatasetSpec(
    name="mnist_m",
    title="MNIST-M",
    description="All 70,000 MNIST digits blended with colour photo patches (|digit - patch|), "
                "28x28 RGB; same labels and official test set as MNIST.",
    num_classes=10,
    shape=(3, SIZE, SIZE),
    load=load,
    check=check,
    source="MNIST + scikit-learn / scikit-image sample photos",
    licence=LICENCE,
    version="1",
    sources=sources,
))
