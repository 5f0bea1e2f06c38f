"""Looking at a domain before a run uses it: a grid of samples, class counts, provenance,
how many labels per class the split can give, and taking in a user's zip of images.

The Data page draws these; a script gets the same numbers from the same calls::

    >>> p = preview_domain("mnist:rotate=3", seed=0)
    >>> p.montage.image.shape                  # uint8 [rows*(cell+gap)+gap, cols*(cell+gap)+gap, 3]
    >>> label_budget(p.counts, p.class_names, labels_per_class=10, val_per_class=10,
    ...              test_per_class=50).max_labels
    6253

Shifts on the samples only. Shifting a whole 70k dataset takes seconds (about 6 s for
``rotate`` on MNIST on a 2-core machine), too slow to follow a severity slider. So the grid
applies the domain's shifts to the sampled images alone, with ``load_domain``'s seeds
(shift i uses ``seed + i``): the magnitude is exactly the run's, but the per-image random
choices (rotation direction, noise, tint colours, which images invert) are drawn for the
samples, so one particular image may look different in the run. Shifts never change the
class counts, so those are the base dataset's.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tlcore.data import (
    DATASETS,
    DomainSpec,
    Provenance,
    apply_shift,
    load_domain,
    load_image_folder,
    parse_domain,
)
from tlcore.paths import data_dir

GAP = 2  # white pixels between cells, so black-background digits stay separate


@dataclass(frozen=True)
class Montage:
    """A grid of samples, one row per class. ``image``: uint8 ``[H, W, 3]``."""

    image: np.ndarray
    rows: tuple[str, ...]  # class name of each row
    cell: int  # pixels per sample (cells are square)
    per_class: int


@dataclass(frozen=True)
class DomainPreview:
    text: str  # canonical domain text, e.g. "mnist:rotate=3"
    title: str  # what to call it on screen
    montage: Montage
    class_names: tuple[str, ...]
    counts: tuple[int, ...]  # images per class in the whole pool
    shape: tuple[int, int, int]  # (C, H, W) of the images a run sees (shifts may add colour)
    provenance: Provenance
    skipped: tuple[tuple[str, str], ...] = ()  # uploads: (file, why it was skipped)


def sample_indices(labels: torch.Tensor, per_class: int, seed: int, max_classes: int) -> list[np.ndarray]:
    """Up to ``per_class`` indices of each of the first ``max_classes`` classes, drawn
    from a per-class generator so one class's samples do not change with another's."""
    y = labels.numpy()
    out = []
    for c in range(min(int(y.max()) + 1 if len(y) else 0, max_classes)):
        idx = np.flatnonzero(y == c)
        rng = np.random.default_rng([seed, c])
        out.append(np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False)))
    return out


def tile(rows: Sequence[torch.Tensor], cell: int, per_class: int) -> np.ndarray:
    """Lay out rows of uint8 ``[n, C, h, w]`` images as one RGB uint8 ``[H, W, 3]`` grid.

    Small images are enlarged with nearest-neighbour (pixels stay visible, as the network
    sees them); larger ones shrink with antialiasing. Short rows are padded with grey.
    """
    height = len(rows) * (cell + GAP) + GAP
    width = per_class * (cell + GAP) + GAP
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for r, imgs in enumerate(rows):
        if len(imgs):
            x = imgs.float()
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if x.shape[-1] < cell:
                x = F.interpolate(x, size=(cell, cell), mode="nearest")
            elif x.shape[-1] > cell:
                x = F.interpolate(x, size=(cell, cell), mode="bilinear", antialias=True,
                                  align_corners=False)
            x = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for j in range(per_class):
            top, left = GAP + r * (cell + GAP), GAP + j * (cell + GAP)
            block = canvas[top:top + cell, left:left + cell]
            block[:] = x[j] if j < len(imgs) else 235
    return canvas


def preview_domain(text: str, *, seed: int = 0, per_class: int = 6, cell: int = 40,
                   max_classes: int = 12) -> DomainPreview:
    """Samples, counts and provenance of a domain (see the module docstring on shifts).

    Raises ``ValueError`` for an unparsable domain text and whatever the loaders raise
    (``DatasetUnavailable``, ``FileNotFoundError``) when the files are missing.
    """
    spec = parse_domain(text)
    base = load_domain(DomainSpec(spec.dataset), seed=seed)
    picked = sample_indices(base.labels, per_class, seed, max_classes)
    flat = torch.from_numpy(np.concatenate(picked)) if picked else torch.empty(0, dtype=torch.long)
    images = base.images[flat]
    for i, (shift, severity) in enumerate(spec.shifts):
        images = apply_shift(images, shift, severity, seed=seed + i)
    rows = list(torch.split(images, [len(p) for p in picked]))
    montage = Montage(tile(rows, cell, per_class), base.class_names[:len(rows)], cell, per_class)
    shifts = ", ".join(f"{n} {s}" for n, s in spec.shifts)
    if spec.is_path:
        upload = upload_info(spec.dataset)
        title = (upload or {}).get("filename", Path(spec.dataset).name) + " (your images)"
    else:
        title = DATASETS.get(spec.dataset).title
    title += f", {shifts}" if shifts else ""
    reasons = base.meta.get("skip_reasons", {})
    return DomainPreview(
        text=spec.text, title=title, montage=montage, class_names=tuple(base.class_names),
        counts=tuple(base.class_counts()), shape=tuple(images.shape[1:]) if len(images) else
        tuple(base.images.shape[1:]), provenance=base.provenance,
        skipped=tuple(sorted(reasons.items())))


@dataclass(frozen=True)
class Budget:
    """What a split asks of each class against what the smallest class has."""

    max_labels: int  # the largest labels_per_class that fits (may be <= 0: nothing fits)
    fits: bool  # whether the requested budget fits
    train_images: int  # training images the requested budget gives (if it fits)
    message: str  # why it does not fit, in words; "" when it does


def label_budget(counts: Sequence[int], class_names: Sequence[str], labels_per_class: int | None,
                 val_per_class: int, test_per_class: int) -> Budget:
    """Mirror ``stratified_splits``' rule: every class gives ``test + val + labels``."""
    smallest = int(np.argmin(counts))
    n_min = int(counts[smallest])
    room = n_min - val_per_class - test_per_class
    held = (f"the smallest class ({class_names[smallest]!r}) has {n_min:,} images, and "
            f"{val_per_class} validation + {test_per_class} test images per class are held out")
    if len(counts) < 2:
        return Budget(room, False, 0, f"a classifier needs at least two classes; this data has "
                      f"{len(counts)}")
    if room < 1:
        return Budget(room, False, 0, f"no labels are left for training: {held}. Hold out fewer "
                      "validation or test images per class")
    if labels_per_class is None:
        train = int(sum(counts)) - len(counts) * (val_per_class + test_per_class)
        return Budget(room, True, train, "")
    if labels_per_class > room:
        return Budget(room, False, 0, f"{labels_per_class:,} labels per class do not fit: {held}, so "
                      f"at most {room:,} are left")
    return Budget(room, True, labels_per_class * len(counts), "")


def run_budget(cfg) -> Budget:
    """``label_budget`` for a run config's source (loads the dataset: cached per process for
    registered datasets): whether its budget fits, in the Data page's words."""
    ds = load_domain(cfg.dataset, seed=cfg.seed)
    return label_budget(ds.class_counts(), ds.class_names, cfg.labels_per_class,
                        cfg.val_per_class, cfg.test_per_class)


class UploadRejected(ValueError):
    """An upload that cannot be used; the message says why in the user's terms."""


def uploads_dir() -> Path:
    p = data_dir() / "uploads"
    p.mkdir(parents=True, exist_ok=True)
    return p


def upload_info(path: str | os.PathLike) -> dict | None:
    """The sidecar written by ``ingest_upload`` (original file name, images, classes,
    skipped files), or None for a path that is not one of our uploads."""
    side = Path(path).with_suffix(".json")
    if Path(path).resolve().parent != uploads_dir().resolve() or not side.is_file():
        return None
    try:
        return json.loads(side.read_text())
    except (OSError, ValueError):
        return None


def list_uploads() -> list[str]:
    """Paths of stored uploads, newest first."""
    zips = [p for p in uploads_dir().glob("*.zip") if p.with_suffix(".json").is_file()]
    return [str(p) for p in sorted(zips, key=lambda p: p.stat().st_mtime, reverse=True)]


def ingest_upload(data: bytes, filename: str) -> tuple[str, dict]:
    """Check a zip of class sub-folders and keep it as ``uploads/<sha256>.zip``.

    Returns (path, info). The file is written under a temporary name, read with
    ``load_image_folder`` (which rejects hostile zips: see ``tlcore.data.folder``) and
    only then moved into place, sidecar first, so a rejected upload (``UploadRejected``:
    not a zip, unsafe, no readable images, a single class) or a failed write (a full disk,
    a read-only data folder) leaves nothing behind. The same bytes uploaded twice map to
    the same path.
    """
    digest = hashlib.sha256(data).hexdigest()
    try:
        folder = uploads_dir()
    except OSError as e:
        raise UploadRejected(f"{filename} cannot be stored: the data folder is not writable "
                             f"({e.strerror or e}); set TLAB_DATA_DIR to a writable folder") from None
    dest = folder / f"{digest}.zip"
    if dest.is_file() and (info := upload_info(dest)) is not None:
        return str(dest), info
    tmp = folder / f".{digest}.{os.getpid()}.part"
    side_tmp = folder / f".{digest}.{os.getpid()}.json.part"
    try:
        try:
            tmp.write_bytes(data)
        except OSError as e:
            raise UploadRejected(f"{filename} cannot be stored in {folder}: {e.strerror or e} "
                                 "(disk full or read-only?)") from None
        try:
            ds = load_image_folder(tmp)
        except zipfile.BadZipFile as e:
            raise UploadRejected(f"{filename} is damaged and cannot be read as a zip ({e})") from None
        except ValueError as e:
            text = str(e).replace(str(tmp), filename)
            if "not a zip" in text:
                raise UploadRejected(f"{filename} is not a zip archive. Zip a folder that holds "
                                     "one sub-folder of images per class") from None
            raise UploadRejected(text if filename in text else f"{filename}: {text}") from None
        except (OSError, EOFError) as e:
            raise UploadRejected(f"{filename} could not be read: {e}") from None
        empty = ds.meta.get("empty_classes", [])
        if ds.num_classes < 2:
            why = (f"; these class folders have no readable image: {', '.join(map(repr, empty[:5]))}"
                   f"{' …' if len(empty) > 5 else ''}" if empty else "")
            raise UploadRejected(f"{filename} holds one class ({ds.class_names[0]!r}, {len(ds)} "
                                 f"images); a classifier needs at least two class sub-folders{why}")
        info = {"filename": filename, "sha256": digest, "images": len(ds),
                "classes": list(ds.class_names), "counts": ds.class_counts(),
                "skipped": ds.meta["skipped"], "empty_classes": empty}
        try:
            side_tmp.write_text(json.dumps(info, indent=1))
            os.replace(side_tmp, dest.with_suffix(".json"))
            os.replace(tmp, dest)
        except OSError as e:
            dest.with_suffix(".json").unlink(missing_ok=True)
            raise UploadRejected(f"{filename} cannot be stored in {folder}: {e.strerror or e} "
                                 "(disk full or read-only?)") from None
        return str(dest), info
    finally:
        tmp.unlink(missing_ok=True)
        side_tmp.unlink(missing_ok=True)
