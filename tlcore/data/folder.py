"""A user's own images: a folder or a zip of class sub-folders -> ``ImageDataset``.

Layout as torchvision's ImageFolder: ``root/<class>/<...>/<image>``; class names are the
sub-folder names, sorted. A single wrapping folder (``photos.zip`` containing
``photos/cat/...``) is looked through. Every image is converted to RGB (transparent
pixels composited onto white), turned upright by its EXIF orientation, then
**centre-cropped** to a square and resized to ``size`` x ``size`` (bicubic): cropping
keeps the aspect ratio without the padding bars that a network could learn as a class
cue, at the cost of the image's edges.

Files that cannot be decoded are skipped and listed in ``meta["skipped"]`` (reasons in
``meta["skip_reasons"]``), so one bad file does not lose an upload.

Safety (basic; hardening comes later): zip members are read into memory with
``zipfile``, never extracted to disk; a member with an absolute path, a drive letter or
a ``..`` component makes the whole archive rejected; members over ``MAX_FILE_BYTES``
are skipped.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from tlcore.data.base import ImageDataset, Provenance
from tlcore.data.cache import file_sha256

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
MAX_FILE_BYTES = 50 * 1024 * 1024
LICENCE = "user-supplied (licence unknown)"


def _safe_member(name: str) -> PurePosixPath:
    """A zip member's path, or ``ValueError`` when it could escape a target folder."""
    norm = name.replace("\\", "/")
    parts = PurePosixPath(norm).parts
    if norm.startswith("/") or (parts and len(parts[0]) >= 2 and parts[0][1] == ":") \
            or ".." in parts:
        raise ValueError(f"unsafe path in zip: {name!r} (absolute or contains '..')")
    return PurePosixPath(norm)


Entry = tuple[PurePosixPath, int, Callable[[], bytes]]  # (relative path, size, reader)


def _zip_entries(zf: zipfile.ZipFile) -> list[Entry]:
    infos = zf.infolist()
    for info in infos:  # check every name (folders too) before reading anything
        _safe_member(info.filename)
    return [(_safe_member(i.filename), i.file_size, functools.partial(zf.read, i))
            for i in infos if not i.is_dir()]


def _folder_entries(root: Path) -> list[Entry]:
    return [(PurePosixPath(p.relative_to(root).as_posix()), p.stat().st_size, p.read_bytes)
            for p in sorted(root.rglob("*")) if p.is_file()]


def _ignored(rel: PurePosixPath) -> bool:
    """OS clutter that is not part of anyone's dataset."""
    return rel.parts[0] == "__MACOSX" or any(part.startswith(".") for part in rel.parts)


def _strip_wrapper(rels: list[PurePosixPath]) -> int:
    """How many leading folders all image files share above the class folders (a loose
    README next to the class folders does not stop the look-through)."""
    depth = 0
    while rels and all(len(r.parts) >= depth + 3 for r in rels) \
            and len({r.parts[depth] for r in rels}) == 1:
        depth += 1
    return depth


def _decode(data: bytes, size: int) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, rgba)
        im = ImageOps.fit(im.convert("RGB"), (size, size), method=Image.Resampling.BICUBIC)
        return np.asarray(im, dtype=np.uint8)


def _read_entries(entries: list[Entry], size: int
                  ) -> tuple[dict[str, str], dict[str, list[tuple[str, np.ndarray]]], str]:
    """Decode every image entry.

    Returns (skip reason per relative path, ``(path, pixels)`` per class name, sha256 over
    the sorted ``path<TAB>sha256`` listing of the image files read).
    """
    depth = _strip_wrapper([e[0] for e in entries if e[0].suffix.lower() in IMAGE_SUFFIXES])
    skipped: dict[str, str] = {}
    per_class: dict[str, list[tuple[str, np.ndarray]]] = {}
    listing = hashlib.sha256()
    for rel, nbytes, read in sorted(entries, key=lambda e: e[0].as_posix()):
        key = rel.as_posix()
        parts = rel.parts[depth:]
        if len(parts) < 2:
            skipped[key] = "not inside a class folder"
            continue
        if rel.suffix.lower() not in IMAGE_SUFFIXES:
            skipped[key] = "not an image file extension"
            continue
        if nbytes > MAX_FILE_BYTES:
            skipped[key] = f"larger than {MAX_FILE_BYTES} bytes"
            continue
        data = read()
        listing.update(f"{key}\t{hashlib.sha256(data).hexdigest()}\n".encode())
        try:
            pixels = _decode(data, size)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
                Image.DecompressionBombError) as e:
            skipped[key] = f"unreadable: {type(e).__name__}: {e}"
            continue
        per_class.setdefault(parts[0], []).append((key, pixels))
    return skipped, per_class, listing.hexdigest()


def load_image_folder(path: str | os.PathLike, *, size: int = 32, name: str | None = None) -> ImageDataset:
    """Read ``path`` (a folder or a ``.zip``) into RGB uint8 ``[N, 3, size, size]``.

    Raises ``FileNotFoundError`` if ``path`` is missing and ``ValueError`` for an unsafe
    zip or when no class folder holds a readable image.
    """
    root = Path(path).expanduser().resolve()
    if not root.exists():
        raise FileNotFoundError(f"no such folder or zip: {root}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    is_zip = root.is_file()
    if is_zip and not zipfile.is_zipfile(root):
        raise ValueError(f"{root} is a file but not a zip archive")
    with contextlib.ExitStack() as stack:
        if is_zip:
            entries = _zip_entries(stack.enter_context(zipfile.ZipFile(root)))
        else:
            entries = _folder_entries(root)
        entries = [e for e in entries if not _ignored(e[0])]
        skipped, per_class, listing = _read_entries(entries, size)

    if not per_class:
        raise ValueError(f"{root}: no readable images in class sub-folders "
                         f"(expected <root>/<class>/<image>; {len(skipped)} files skipped)")
    class_names = tuple(sorted(per_class))
    images, labels, files = [], [], []
    for label, cls in enumerate(class_names):
        for key, pixels in per_class[cls]:
            images.append(pixels)
            labels.append(label)
            files.append(key)

    digest = file_sha256(root) if is_zip else listing
    kind = "zip" if is_zip else "folder"
    return ImageDataset(
        name=name or root.stem,
        images=torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy()),
        labels=torch.tensor(labels, dtype=torch.int64),
        class_names=class_names,
        provenance=Provenance(
            source=f"user image {kind} {root}",
            licence=LICENCE,
            files=((str(root), digest),),
            notes=("sha256 of the zip file" if is_zip
                   else "sha256 over the sorted list of (relative path, file sha256)"),
        ),
        meta={
            "path": str(root),
            "kind": kind,
            "size": size,
            "resize": "centre-crop to square, bicubic resize",
            "files": files,
            "skipped": sorted(skipped),
            "skip_reasons": skipped,
        },
    )
