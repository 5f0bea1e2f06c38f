"""On-disk cache of decoded datasets, plus an in-process memo.

Decoding MNIST from its gzip pickle takes seconds and rendering ``synth_digits`` longer,
while ``torch.load`` of the decoded uint8 tensors takes a fraction of a second. So each
dataset is decoded once and saved as ``cache_dir()/datasets/<key>.pt``.

The key is ``<name>-v<version>-<digest>`` where the digest covers the loader version,
the cache format and every raw source file's path and sha256: a new loader or changed
source data misses the cache instead of serving stale tensors. Files are written to a
temporary name and moved into place with ``os.replace`` (atomic on one file system), so a
killed process never leaves a half-written cache file behind. A file that fails to load
is deleted and rebuilt.

Cached datasets are shared, read-only objects: callers must not modify their tensors in
place (take a ``subset`` or a ``clone`` first).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path

from tlcore.data.base import ImageDataset, Provenance
from tlcore.paths import cache_dir, sha256_file

# torch is imported where tensors are saved or loaded, not here: Home's first paint imports
# tlcore.data (for dataset names) and must not wait seconds for torch.

CACHE_FORMAT = 1

_SHA_MEMO: dict[tuple[str, int, int], str] = {}
_MEMO: dict[str, ImageDataset] = {}


def datasets_cache_dir() -> Path:
    p = cache_dir() / "datasets"
    p.mkdir(parents=True, exist_ok=True)
    return p


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, memoised per process by (path, size, mtime)."""
    st = os.stat(path)
    k = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if k not in _SHA_MEMO:
        _SHA_MEMO[k] = sha256_file(path)
    return _SHA_MEMO[k]


def file_digests(paths: Iterable[str | os.PathLike]) -> tuple[tuple[str, str], ...]:
    """``((path, sha256), ...)`` in the given order, the shape of ``Provenance.files``."""
    return tuple((str(p), file_sha256(p)) for p in paths)


def cache_key(name: str, version: str, files: Iterable[tuple[str, str]]) -> str:
    blob = json.dumps(
        {"format": CACHE_FORMAT, "name": name, "version": version,
         "files": [list(f) for f in files]},
        sort_keys=True,
    )
    return f"{name}-v{version}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def cache_path(key: str) -> Path:
    return datasets_cache_dir() / f"{key}.pt"


def save_cached(key: str, ds: ImageDataset) -> Path:
    """Write ``ds`` under ``key`` atomically; ``ds.meta`` must be JSON-able."""
    import torch

    info = json.dumps({
        "name": ds.name,
        "class_names": list(ds.class_names),
        "provenance": ds.provenance.to_dict(),
        "meta": ds.meta,
    })
    payload = {
        "format": CACHE_FORMAT,
        "key": key,
        "images": ds.images.contiguous(),
        "labels": ds.labels.contiguous(),
        "official_test": ds.official_test,
        "info": info,
    }
    final = cache_path(key)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{key}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


def load_cached(key: str) -> ImageDataset | None:
    """The dataset saved under ``key``, or None when absent or unreadable."""
    import torch

    path = cache_path(key)
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("format") != CACHE_FORMAT or payload.get("key") != key:
            raise ValueError("format or key mismatch")
        info = json.loads(payload["info"])
        return ImageDataset(
            name=info["name"],
            images=payload["images"],
            labels=payload["labels"],
            class_names=tuple(info["class_names"]),
            provenance=Provenance.from_dict(info["provenance"]),
            official_test=payload["official_test"],
            meta=info["meta"],
        )
    except Exception as e:  # any unreadable file is rebuilt, never trusted
        warnings.warn(f"dataset cache {path} unreadable ({e}); rebuilding", stacklevel=2)
        path.unlink(missing_ok=True)
        return None


def remove_stale(name: str, keep: str) -> list[Path]:
    """Delete cache files of ``name`` under other keys (older loaders or sources)."""
    removed = []
    for p in datasets_cache_dir().glob(f"{name}-v*.pt"):
        if p.stem != keep:
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def memo_get(name: str) -> ImageDataset | None:
    return _MEMO.get(name)


def memo_put(name: str, ds: ImageDataset) -> None:
    _MEMO[name] = ds


def clear_memo() -> None:
    """Forget in-process datasets (tests use it to time a load from disk)."""
    _MEMO.clear()
