"""A user's own images: a folder or a zip of class sub-folders -> ``ImageDataset``.

Layout as torchvision's ImageFolder: ``root/<class>/<...>/<image>``; class names are the
sub-folder names (Unicode NFC, so a macOS zip's decomposed "café" is the same class as
a composed one), sorted. A single wrapping folder (``photos.zip`` containing
``photos/cat/...``) is looked through. Every image is converted to RGB (transparent
pixels composited onto white, 16-bit and float greyscale scaled to 8 bits rather than
clipped to white), turned upright by its EXIF orientation, then **centre-cropped** to a
square and resized to ``size`` x ``size`` (bicubic): cropping keeps the aspect ratio
without the padding bars that a network could learn as a class cue, at the cost of the
image's edges.

Files that cannot be used are skipped and listed in ``meta["skipped"]`` (reasons in
``meta["skip_reasons"]``), so one bad file does not lose an upload; class folders left
with no readable image are listed in ``meta["empty_classes"]``.

Hostile input (a student's zip from anywhere on a shared server). Nothing is ever
extracted to disk: zip members are read into memory one at a time. ``UploadError`` (a
``ValueError``) rejects the whole input when

- a zip member's path is absolute, has a drive letter or a ``..`` component (zip
  slip), or the member is a symbolic link;
- the image files would unpack to more than ``MAX_TOTAL_BYTES``, or a zip member over
  ``RATIO_FLOOR_BYTES`` is compressed more than ``MAX_RATIO`` times (a zip bomb:
  photos barely compress, a bomb compresses ~1000x);
- there are more than ``MAX_FILES`` files or ``MAX_CLASSES`` class folders.

Single files are skipped (and listed) instead when they are over ``MAX_FILE_BYTES``,
declare more than ``MAX_PIXELS`` pixels (checked from the header, before decoding: a
decompression bomb), are not one of ``ALLOWED_FORMATS`` whatever their extension
(Pillow would otherwise try ~40 parsers, EPS via Ghostscript among them), are damaged
or truncated, encrypted, or have control characters in their names. In a folder,
symbolic links are followed only to files inside the folder, and only regular files
are read (a FIFO would block forever).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import lzma
import os
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tlcore.data.base import ImageDataset, Provenance
from tlcore.data.cache import file_sha256

# torch is imported where the tensors are made (load_image_folder), not here: Home's first
# paint imports tlcore.data (for dataset names) and must not wait seconds for torch.

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
# Pillow format ids the suffixes above may hold (MPO: the JPEG variant many phones write)
ALLOWED_FORMATS = ("PNG", "JPEG", "MPO", "BMP", "GIF", "WEBP", "TIFF", "PPM")
MAX_FILE_BYTES = 50 * 1024 * 1024  # one image file
MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # all image files together, unpacked
MAX_RATIO = 100  # unpacked / packed size of one zip member ...
RATIO_FLOOR_BYTES = 1024 * 1024  # ... that unpacks to more than this (tiny files may compress well)
MAX_PIXELS = 64_000_000  # 8000 x 8000; checked before decoding (Pillow's own limit is ~179 M)
MAX_FILES = 100_000  # image files read (32x32 RGB each: ~300 MB decoded)
MAX_CLASSES = 1000  # class folders with at least one image file
LICENCE = "user-supplied (licence unknown)"


class UploadError(ValueError):
    """Input rejected as a whole (unsafe, too big, too many files); the message says why."""


class _Skip(Exception):
    """One file is not used; the message is the reason listed to the user."""


def _safe_member(name: str) -> PurePosixPath:
    """A zip member's path, or ``UploadError`` when it could escape a target folder."""
    norm = name.replace("\\", "/")
    parts = PurePosixPath(norm).parts
    if not parts:
        raise UploadError(f"unsafe path in zip: {name!r} (empty)")
    if norm.startswith("/") or (parts and len(parts[0]) >= 2 and parts[0][1] == ":") \
            or ".." in parts:
        raise UploadError(f"unsafe path in zip: {name!r} (absolute or contains '..')")
    return PurePosixPath(norm)


# (relative path, size in bytes, reader returning at most MAX_FILE_BYTES + 1 bytes)
Entry = tuple[PurePosixPath, int, Callable[[], bytes]]
Listing = tuple[list[Entry], list[PurePosixPath], dict[str, str]]  # files, folders, skipped


def _zip_entries(zf: zipfile.ZipFile) -> Listing:
    infos = zf.infolist()
    if len(infos) > 2 * MAX_FILES:  # files and their folders
        raise UploadError(f"the zip holds {len(infos):,} entries; at most {MAX_FILES:,} files are read")
    for info in infos:  # check every member (folders too) before reading anything
        _safe_member(info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UploadError(f"the zip contains a symbolic link ({info.filename!r}); zip the "
                              "image files themselves (without `zip -y`)")
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise UploadError(
                f"{info.filename!r} unpacks to {info.file_size:,} bytes from {info.compress_size:,} "
                f"(more than {MAX_RATIO}x): this looks like a zip bomb, not photos")
    files = [i for i in infos if not i.is_dir()]
    if len(files) > MAX_FILES:
        raise UploadError(f"the zip holds {len(files):,} files; at most {MAX_FILES:,} are read")
    skipped = {i.filename: "encrypted (password-protected zip)" for i in files if i.flag_bits & 0x1}

    def reader(info: zipfile.ZipInfo) -> Callable[[], bytes]:
        def read() -> bytes:
            with zf.open(info) as f:  # zipfile never yields more than the declared size
                return f.read(MAX_FILE_BYTES + 1)
        return read

    entries = [(_safe_member(i.filename), i.file_size, reader(i)) for i in files
               if i.filename not in skipped]
    return entries, [_safe_member(i.filename) for i in infos if i.is_dir()], skipped


def _folder_entries(root: Path) -> Listing:
    """Regular files under ``root``; symlinks are followed only to files inside it."""
    entries: list[Entry] = []
    folders: list[PurePosixPath] = []
    skipped: dict[str, str] = {}

    def reader(path: Path) -> Callable[[], bytes]:
        def read() -> bytes:
            with open(path, "rb") as f:  # the file may have grown since it was listed
                return f.read(MAX_FILE_BYTES + 1)
        return read

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames.sort()
        for d in list(dirnames):
            rel = PurePosixPath((here / d).relative_to(root).as_posix())
            if (here / d).is_symlink():
                skipped[rel.as_posix() + "/"] = "symbolic link to a folder (not followed)"
                dirnames.remove(d)
            else:
                folders.append(rel)
        for name in sorted(filenames):
            path = here / name
            rel = PurePosixPath(path.relative_to(root).as_posix())
            try:
                if path.is_symlink() and not path.resolve().is_relative_to(root):
                    skipped[rel.as_posix()] = "symbolic link to a file outside the folder (not followed)"
                    continue
                st = path.stat()
            except OSError as e:  # a dangling or looping link, a permission error
                skipped[rel.as_posix()] = f"cannot be read: {e.strerror or e}"
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped[rel.as_posix()] = "not a regular file"
                continue
            entries.append((rel, st.st_size, reader(path)))
            if len(entries) > MAX_FILES:
                raise UploadError(f"{root} holds more than {MAX_FILES:,} files")
    return entries, folders, skipped


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


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer greyscale scaled to 0-255 (Pillow's ``convert`` clips them,
    so a 16-bit PNG turns white); float greyscale read as 0-1 when it fits, else 0-255."""
    a = np.asarray(im, dtype=np.float64)
    if im.mode == "F":
        a = np.nan_to_num(a, nan=0.0, posinf=255.0, neginf=0.0)
        a = a * 255 if a.size and a.max() <= 1.0 else a
    else:
        a = a / 257.0
    return Image.fromarray(a.clip(0, 255).round().astype(np.uint8), mode="L")


def open_image(data: bytes) -> Image.Image:
    """The hostile-input guards for one image file, shared with ``tlcore.predict``: only
    ``ALLOWED_FORMATS``, at most ``MAX_PIXELS`` (from the header, before decoding), upright
    by its EXIF orientation, 16/32-bit and float greyscale scaled to 8 bits. Alpha is kept
    (callers composite it on their own background). Raises ``_Skip`` (public name
    ``ImageRejected``) with the reason; damaged pixel data raises Pillow's own errors."""
    Image.init()  # register every plugin, so ALLOWED_FORMATS are all known (a no-op after)
    try:
        im = Image.open(io.BytesIO(data), formats=[f for f in ALLOWED_FORMATS if f in Image.OPEN])
    except UnidentifiedImageError:
        raise _Skip("unreadable: not a PNG, JPEG, GIF, BMP, WebP, TIFF or PPM image") from None
    except Image.DecompressionBombError as e:
        raise _Skip(f"too many pixels: {e}") from None
    with im:
        w, h = im.size
        if w * h > MAX_PIXELS:  # from the header alone, before any pixel is decoded
            raise _Skip(f"too many pixels: {w}x{h} is over the limit of {MAX_PIXELS:,}")
        im.load()
        im = ImageOps.exif_transpose(im)
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        im = _to_8bit(im)
    return im


ImageRejected = _Skip  # the reason one image file is not used, for callers outside this module


def _decode(data: bytes, size: int) -> np.ndarray:
    """uint8 ``[size, size, 3]``; raises ``_Skip`` with the reason a file is not used."""
    im = open_image(data)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba)
    im = ImageOps.fit(im.convert("RGB"), (size, size), method=Image.Resampling.BICUBIC)
    return np.asarray(im, dtype=np.uint8)


# What unpacking a single zip member may raise on a damaged or unsupported member
_UNPACK_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
                  NotImplementedError, RuntimeError, ValueError)


# One image file to read: (relative path, class name, size in bytes, reader)
_Todo = tuple[str, str, int, Callable[[], bytes]]


def _skip_reason(rel: PurePosixPath, parts: tuple[str, ...], nbytes: int) -> str | None:
    """Why a listed file is not read at all (None: it is read), from its name and its
    declared size alone, before a byte is unpacked."""
    key = rel.as_posix()
    if len(parts) < 2:
        return "not inside a class folder"
    if rel.suffix.lower() not in IMAGE_SUFFIXES:
        return "not an image file extension"
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        return "control characters in the file name"
    if nbytes > MAX_FILE_BYTES:
        return f"larger than {MAX_FILE_BYTES:,} bytes"
    return None


def _plan(entries: list[Entry], skipped: dict[str, str]) -> list[_Todo]:
    """The files to read, in path order, each with its class (the first folder below any
    wrapping folders, NFC); the others go to ``skipped`` with their reason."""
    depth = _strip_wrapper([e[0] for e in entries if e[0].suffix.lower() in IMAGE_SUFFIXES])
    todo: list[_Todo] = []
    for rel, nbytes, read in sorted(entries, key=lambda e: e[0].as_posix()):
        parts = rel.parts[depth:]
        reason = _skip_reason(rel, parts, nbytes)
        if reason is not None:
            skipped[rel.as_posix()] = reason
        else:
            todo.append((rel.as_posix(), unicodedata.normalize("NFC", parts[0]), nbytes, read))
    return todo


def _check_totals(todo: list[_Todo]) -> set[str]:
    """The class names in ``todo``; ``UploadError`` when the whole input is too big (by
    declared sizes) or has too many classes, checked before anything is unpacked."""
    total = sum(t[2] for t in todo)
    if total > MAX_TOTAL_BYTES:
        raise UploadError(f"the image files unpack to {total:,} bytes; at most "
                          f"{MAX_TOTAL_BYTES:,} are read (a zip bomb, or split the data)")
    seen = {t[1] for t in todo}
    if len(seen) > MAX_CLASSES:
        raise UploadError(f"{len(seen):,} class folders; at most {MAX_CLASSES:,} are supported "
                          "(is the layout <class>/<image>?)")
    return seen


def _read_bytes(key: str, read: Callable[[], bytes], skipped: dict[str, str]) -> bytes | None:
    """One file's bytes, or None with its reason in ``skipped``."""
    try:
        data = read()
    except _UNPACK_ERRORS as e:
        skipped[key] = f"cannot be unpacked: {type(e).__name__}: {e}"
        return None
    if len(data) > MAX_FILE_BYTES:  # the declared size can lie (a folder file that grew)
        skipped[key] = f"larger than {MAX_FILE_BYTES:,} bytes"
        return None
    return data


def _decode_or_skip(key: str, data: bytes, size: int, skipped: dict[str, str]) -> np.ndarray | None:
    """``_decode``, or None with its reason in ``skipped``."""
    try:
        return _decode(data, size)
    except _Skip as e:
        skipped[key] = str(e)
    except Exception as e:  # noqa: BLE001 Pillow's ~40 parsers raise many types on hostile bytes
        skipped[key] = f"unreadable: {type(e).__name__}: {e}"
    return None


def _read_entries(entries: list[Entry], size: int, skipped: dict[str, str]
                  ) -> tuple[dict[str, list[tuple[str, np.ndarray]]], set[str], str]:
    """Decode every image entry, adding to ``skipped`` (reason per relative path).

    Returns (``(path, pixels)`` per class name, every class folder name an image file
    was found in, sha256 over the sorted ``path<TAB>sha256`` listing of the files read:
    a file that was read but does not decode is in it too).
    """
    todo = _plan(entries, skipped)
    seen = _check_totals(todo)
    per_class: dict[str, list[tuple[str, np.ndarray]]] = {}
    listing = hashlib.sha256()
    for key, cls, _, read in todo:
        data = _read_bytes(key, read, skipped)
        if data is None:
            continue
        listing.update(f"{key}\t{hashlib.sha256(data).hexdigest()}\n".encode())
        pixels = _decode_or_skip(key, data, size, skipped)
        if pixels is not None:
            per_class.setdefault(cls, []).append((key, pixels))
    return per_class, seen, listing.hexdigest()


def load_image_folder(path: str | os.PathLike, *, size: int = 32, name: str | None = None) -> ImageDataset:
    """Read ``path`` (a folder or a ``.zip``) into RGB uint8 ``[N, 3, size, size]``.

    Raises ``FileNotFoundError`` if ``path`` is missing, ``UploadError`` (a ``ValueError``)
    for unsafe or oversized input (see the module docstring) and ``ValueError`` when no
    class folder holds a readable image.
    """
    import torch

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
            try:
                zf = stack.enter_context(zipfile.ZipFile(root))
            except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as e:
                raise UploadError(f"{root} is damaged and cannot be read as a zip ({e})") from None
            entries, folders, skipped = _zip_entries(zf)
        else:
            entries, folders, skipped = _folder_entries(root)
        entries = [e for e in entries if not _ignored(e[0])]
        per_class, seen, listing = _read_entries(entries, size, skipped)

    depth = _strip_wrapper([e[0] for e in entries if e[0].suffix.lower() in IMAGE_SUFFIXES])
    seen |= {unicodedata.normalize("NFC", f.parts[depth]) for f in folders
             if len(f.parts) > depth and not _ignored(f)}
    empty = sorted(seen - set(per_class))
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
            "empty_classes": empty,
        },
    )
