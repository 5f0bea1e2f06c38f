"""Reader for the IDX files of MNIST and Fashion-MNIST (plain or gzip).

The format is tiny (two zero bytes, a type code, the number of dimensions, then each
dimension as a big-endian int32, then the data), so reading it here avoids depending on
torchvision's private helpers and works on the Debian copies in /usr/share/datasets.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Return the array stored in an IDX file; gzip is detected from the magic bytes."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(f"{path}: not an IDX file (header {raw[:4]!r})")
    dtype, ndim = _DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    count = int(np.prod(shape))
    if len(raw) != header + count * dtype.itemsize:
        raise ValueError(f"{path}: IDX header says {shape} but the file has "
                         f"{len(raw) - header} data bytes")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header)
    return data.reshape(shape).astype(dtype.newbyteorder("="))
