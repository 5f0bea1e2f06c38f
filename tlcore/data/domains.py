"""Domains as short strings: "mnist", "mnist:rotate=3", "mnist_m:noise=2,blur=1", or a path.

A domain is a registered dataset (or a user's folder / zip of images) plus an ordered
list of corruption shifts with severities. The text form is what the UI, the CLI and a
``RunConfig`` store, so it must round-trip: ``parse_domain(spec.text) == spec``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from tlcore.data.base import DATASETS, ImageDataset
from tlcore.data.folder import load_image_folder
from tlcore.data.load import load_dataset
from tlcore.data.shifts import MAX_SEVERITY, SHIFTS, apply_shift

_LOADED: OrderedDict[tuple, ImageDataset] = OrderedDict()
_LOADED_MAX = 4  # shifted copies of a 70k dataset are 55-165 MB each


@dataclass(frozen=True)
class DomainSpec:
    """``dataset`` is a registered name or an absolute path to a folder / zip."""

    dataset: str
    shifts: tuple[tuple[str, int], ...] = ()

    @property
    def is_path(self) -> bool:
        return self.dataset not in DATASETS

    @property
    def text(self) -> str:
        if not self.shifts:
            return self.dataset
        return self.dataset + ":" + ",".join(f"{n}={s}" for n, s in self.shifts)


def _usage() -> str:
    return (f"expected '<dataset>' or '<dataset>:<shift>=<severity>,...' with dataset one "
            f"of {', '.join(DATASETS.names())} (or a path to an image folder / zip), shift "
            f"one of {', '.join(SHIFTS.names())}, severity an integer 0-{MAX_SEVERITY}")


def _parse_shifts(text: str, whole: str) -> tuple[tuple[str, int], ...]:
    shifts: list[tuple[str, int]] = []
    for item in text.split(","):
        name, eq, sev = (part.strip() for part in item.partition("="))
        if not eq or not name or not sev:
            raise ValueError(f"bad shift {item.strip()!r} in {whole!r}: {_usage()}")
        if name not in SHIFTS:
            raise ValueError(f"unknown shift {name!r} in {whole!r}: {_usage()}")
        if not sev.isdigit() or not 0 <= int(sev) <= MAX_SEVERITY:
            raise ValueError(f"bad severity {sev!r} for {name} in {whole!r}: {_usage()}")
        if any(name == n for n, _ in shifts):
            raise ValueError(f"shift {name!r} given twice in {whole!r}")
        shifts.append((name, int(sev)))
    return tuple(shifts)


def _path_or_none(text: str) -> str | None:
    p = Path(text).expanduser()
    return str(p.resolve()) if text and p.exists() else None


def parse_domain(text: str | DomainSpec) -> DomainSpec:
    """Parse a domain string; ``ValueError`` names the valid datasets, shifts and severities.

    A registered dataset name wins over a same-named folder in the working directory
    (torchvision downloads into folders called "MNIST"); anything else is tried as an
    existing path, optionally followed by ":shift=severity,..." after the last ':'.
    """
    if isinstance(text, DomainSpec):
        return text
    whole = text.strip()
    if not whole:
        raise ValueError(f"empty domain: {_usage()}")
    name, sep, tail = whole.partition(":")
    name = name.strip().lower()
    if name in DATASETS:
        if sep and not tail.strip():
            raise ValueError(f"no shifts after ':' in {whole!r}: {_usage()}")
        return DomainSpec(name, _parse_shifts(tail, whole) if sep else ())
    if (p := _path_or_none(whole)) is not None:
        return DomainSpec(p)
    head, sep, tail = whole.rpartition(":")
    if sep and (p := _path_or_none(head)) is not None:
        return DomainSpec(p, _parse_shifts(tail, whole))
    if os.sep in name or "/" in name or name.endswith(".zip"):
        raise ValueError(f"no such folder or zip: {whole!r}")
    raise ValueError(f"unknown dataset {name!r}: {_usage()}")


def load_domain(spec_or_text: str | DomainSpec, *, seed: int = 0, size: int = 32) -> ImageDataset:
    """The domain's images: the (cached) dataset with its shifts applied in order.

    Labels, class names, provenance and the official test mask are the base dataset's;
    ``name`` is the canonical domain text (e.g. "mnist:rotate=3"). ``seed`` drives the
    shifts' random parts (shift i uses ``seed + i``). ``size`` only applies to image
    folders, which are re-read on every call. Registered datasets' domains are memoised
    (a few) and shared read-only, like ``load_dataset``'s result.
    """
    spec = parse_domain(spec_or_text)
    key = (spec, seed)
    if not spec.is_path and key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    if spec.is_path:
        base = load_image_folder(spec.dataset, size=size)
        label = Path(spec.dataset).name
    else:
        base = load_dataset(spec.dataset)
        label = spec.dataset
    if not spec.shifts:
        ds = base if not spec.is_path else replace(base, name=label)
    else:
        images = base.images
        for i, (shift, severity) in enumerate(spec.shifts):
            images = apply_shift(images, shift, severity, seed=seed + i)
        name = label + ":" + ",".join(f"{n}={s}" for n, s in spec.shifts)
        ds = replace(base, name=name, images=images,
                     meta={**base.meta, "base": label, "shifts": [list(s) for s in spec.shifts],
                           "shift_seed": seed})
    if spec.is_path:
        return ds  # a user's files may change between calls: never memoised
    _LOADED[key] = ds
    while len(_LOADED) > _LOADED_MAX:
        _LOADED.popitem(last=False)
    return ds
