"""Where Transfer Lab keeps files outside the repository.

Decoded datasets and extracted features go to a cache dir (safe to delete); runs go to
a data dir. Both default to the user's platform dirs and can be moved with environment
variables, which the tests use to stay inside a temporary folder.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs

APP = "transfer-lab"
REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS = REPO_ROOT / "assets"


def cache_dir() -> Path:
    """Decoded datasets, feature caches; override with ``TLAB_CACHE_DIR``."""
    p = Path(os.environ.get("TLAB_CACHE_DIR") or platformdirs.user_cache_dir(APP))
    p.mkdir(parents=True, exist_ok=True)
    return p


def data_dir() -> Path:
    """The run store; override with ``TLAB_DATA_DIR``."""
    p = Path(os.environ.get("TLAB_DATA_DIR") or platformdirs.user_data_dir(APP))
    p.mkdir(parents=True, exist_ok=True)
    return p



def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def allow_download() -> bool:
    """Whether loaders may try network downloads (``TLAB_ALLOW_DOWNLOAD=1``).

    Off by default so an offline machine fails fast with a clear message instead of
    hanging on a connection; users online turn it on (or pass ``--download``).
    """
    return os.environ.get("TLAB_ALLOW_DOWNLOAD", "0").lower() in {"1", "true", "yes"}
