"""The four-file IDX layout of MNIST and Fashion-MNIST, and torchvision's download of it.

Both datasets ship as train/t10k image and label files. Offline they come from a local
copy (a package, a Debian folder); online, torchvision's own dataset classes download the
same files into ``cache_dir()/torchvision/<Class>/raw``, and we read them with the same
IDX reader so every path yields identical tensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tlcore.data.base import DatasetUnavailable
from tlcore.data.idx import read_idx
from tlcore.paths import allow_download, cache_dir

# torch is imported where the tensors are made, not here: importing tlcore.data registers the
# sources that use this, and Home's first paint imports tlcore.data without waiting for torch.
if TYPE_CHECKING:
    import torch

IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def find_idx_set(directory: Path) -> list[Path] | None:
    """The four IDX files in ``directory`` (each plain or ``.gz``), or None if any is missing."""
    found = []
    for name in IDX_NAMES:
        for cand in (directory / name, directory / f"{name}.gz"):
            if cand.is_file():
                found.append(cand)
                break
        else:
            return None
    return found


def read_idx_set(files: list[Path]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """images uint8 ``[N, 1, 28, 28]`` (train then test), labels int64 ``[N]``,
    official_test bool ``[N]`` marking the t10k part."""
    import torch

    xtr, ytr, xte, yte = (read_idx(f) for f in files)
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise ValueError(f"image/label counts differ in {[str(f) for f in files]}")
    images = torch.from_numpy(np.concatenate([xtr, xte])[:, None].copy())
    labels = torch.from_numpy(np.concatenate([ytr, yte]).astype(np.int64))
    official_test = torch.zeros(len(labels), dtype=torch.bool)
    official_test[len(ytr):] = True
    return images, labels, official_test


def torchvision_raw_dir(cls_name: str) -> Path:
    return cache_dir() / "torchvision" / cls_name / "raw"


def torchvision_files(cls_name: str) -> list[Path] | None:
    """IDX files a previous torchvision download left in the cache, if any."""
    return find_idx_set(torchvision_raw_dir(cls_name))


def torchvision_download(cls_name: str, install_hint: str) -> list[Path]:
    """Download with ``torchvision.datasets.<cls_name>`` when allowed, else raise
    ``DatasetUnavailable`` that says what to install."""
    if (files := torchvision_files(cls_name)) is not None:
        return files
    if not allow_download():
        raise DatasetUnavailable(
            f"{cls_name} files not found. {install_hint}, or set TLAB_ALLOW_DOWNLOAD=1 "
            f"on a machine with internet to let torchvision download it."
        )
    import torchvision.datasets

    cls = getattr(torchvision.datasets, cls_name)
    root = cache_dir() / "torchvision"
    try:
        for train in (True, False):
            cls(root=str(root), train=train, download=True)
    except (RuntimeError, OSError) as e:
        raise DatasetUnavailable(f"{cls_name}: torchvision download failed ({e}). "
                                 f"{install_hint}.") from e
    files = torchvision_files(cls_name)
    if files is None:
        raise DatasetUnavailable(f"{cls_name}: torchvision reported success but the raw "
                                 f"files are not in {torchvision_raw_dir(cls_name)}")
    return files
