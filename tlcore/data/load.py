"""``load_dataset(name)``: registry lookup -> in-process memo -> disk cache -> loader.

Sources register a ``DatasetSpec`` in ``DATASETS``; this module is the one place that
decides whether a load hits the memo, the disk cache, or the (slow) loader.
"""

from __future__ import annotations

from tlcore.data import cache
from tlcore.data.base import DATASETS, DatasetUnavailable, ImageDataset


def list_datasets(*, available_only: bool = False) -> list[str]:
    """Registered dataset names, in registration order (optionally only those whose
    cheap ``check()`` says they can load here)."""
    names = DATASETS.names()
    if available_only:
        names = [n for n in names if DATASETS.get(n).check().available]
    return names


def load_dataset(name: str, *, refresh: bool = False) -> ImageDataset:
    """The full pool of a registered dataset, uint8 ``[N, C, H, W]``.

    Shared and read-only: repeated calls return the same object. ``refresh=True``
    ignores the memo and the disk cache and rebuilds from the raw files.

    Raises ``KeyError`` for unknown names (listing the known ones) and
    ``DatasetUnavailable`` (saying what to install) when the files are missing.
    """
    spec = DATASETS.get(name)
    if not refresh and (ds := cache.memo_get(name)) is not None:
        return ds
    avail = spec.check()
    if not avail.available:
        raise DatasetUnavailable(f"{name}: {avail.reason}")
    if spec.sources is None:
        ds = spec.load()
    else:
        key = cache.cache_key(name, spec.version, spec.sources())
        ds = None if refresh else cache.load_cached(key)
        if ds is None:
            ds = spec.load()
            # Re-key after loading: a first load may have downloaded the files it hashes.
            key = cache.cache_key(name, spec.version, spec.sources())
            ds.meta["cache_key"] = key
            cache.save_cached(key, ds)
            cache.remove_stale(name, key)
    cache.memo_put(name, ds)
    return ds
