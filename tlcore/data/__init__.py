"""Datasets for Transfer Lab: offline sources, a disk cache, shifts, splits, uploads.

Importing this package registers every source in ``DATASETS`` (one module each under
``tlcore.data.sources``); the import order is the order the UI lists them.

    >>> from tlcore.data import load_dataset, load_domain, stratified_splits
    >>> ds = load_domain("mnist:rotate=3")            # uint8 [70000, 1, 28, 28]
    >>> sp = stratified_splits(ds.labels, labels_per_class=10, val_per_class=50,
    ...                        test_per_class=500, seed=0)
"""

import importlib

from tlcore.data.base import (
    DATASETS,
    Availability,
    DatasetSpec,
    DatasetUnavailable,
    ImageDataset,
    Provenance,
)
from tlcore.data.domains import DomainSpec, load_domain, parse_domain
from tlcore.data.folder import load_image_folder
from tlcore.data.load import list_datasets, load_dataset
from tlcore.data.shifts import SHIFTS, ShiftSpec, apply_shift
from tlcore.data.splits import Splits, stratified_splits

# Explicit list (never a folder scan); this order is the order the UI lists datasets.
SOURCE_MODULES = ("mnist", "fashion_mnist", "digits", "synth_digits", "mnist_m", "animals")
for _module in SOURCE_MODULES:
    importlib.import_module(f"tlcore.data.sources.{_module}")

__all__ = [
    "DATASETS",
    "SHIFTS",
    "Availability",
    "DatasetSpec",
    "DatasetUnavailable",
    "DomainSpec",
    "ImageDataset",
    "Provenance",
    "ShiftSpec",
    "Splits",
    "apply_shift",
    "list_datasets",
    "load_dataset",
    "load_domain",
    "load_image_folder",
    "parse_domain",
    "stratified_splits",
]
