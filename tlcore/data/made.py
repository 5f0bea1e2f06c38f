"""Datasets made in the app, Teachable-Machine style: named classes, images added one at a
time (webcam, drawing, files), then turned into a dataset like an uploaded zip.

A *draft* is a folder under ``data_dir()/made/<draft id>/``::

    draft.json          name, created / updated (UTC, ISO 8601), classes [{id, name}], builds
    c1/<sample>.png     one PNG per sample, written the moment it is added
    c2/<sample>.png

Every change is on disk before the call returns, so a reload, a second tab or a restarted
server loses nothing; the widgets' session state only remembers which draft is open.
Class folders are named by id (``c1``), never by the user's text, so a class name cannot
reach the file system until it is sanitised (``folder_name``) for the zip.

Samples go through the upload path's decoder (``tlcore.data.folder``: allowed formats only,
a pixel limit checked before decoding, EXIF orientation, transparency onto white), are
centre-cropped to a square and stored at ``SAMPLE_SIDE`` px: the loader crops and shrinks
them to the run's size later, and the thumbnails stay sharp. Sample names are
``<time ns, hex>-<source>-<sha256 of the pixels, 12 hex>.png``: they sort in the order the
samples were added, say where each came from, and make an identical second sample (a double
click) a refusal instead of a silent duplicate that would leak between train and test.

``build`` writes the draft as a zip of class folders (``export_zip``: the same bytes the user
can download) and hands it to ``tlcore.preview.ingest_upload``, exactly as an uploaded zip,
so every page lists it and runs record its sha256. The zip carries a manifest,
``.transfer-lab-made.json`` (hidden files are ignored by the loader but covered by the zip's
sha256): made in the app, the dates, and per class its display name, folder and counts by
source. The same manifest goes into the upload's sidecar under ``"made"``. The zip is
deterministic (entry times are the draft's last change), so building or exporting an
unchanged draft twice gives the same bytes and the same dataset.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import re
import shutil
import time
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from tlcore.data.folder import IMAGE_SUFFIXES, _decode, _Skip
from tlcore.paths import data_dir

MIN_CLASSES = 2
MIN_PER_CLASS = 5
MAX_CLASSES = 100  # a page of thumbnails per class; the loader itself takes 1000
MAX_SAMPLES = 5000  # per draft (the loader takes 100,000 files)
MAX_NAME = 60  # characters of a class or dataset name
SAMPLE_SIDE = 128  # stored square size; runs read 32x32 (lab backbones) from it
THUMB_SIDE = 56  # thumbnails on the page
SOURCES = ("camera", "drawing", "upload")
IMAGE_TYPES = tuple(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))  # what a file picker offers
MANIFEST = ".transfer-lab-made.json"
MADE_IN = "made in the app (Transfer Lab)"
_ID = re.compile(r"^[0-9a-f]{12}$")
_CLASS_ID = re.compile(r"^c[0-9]{1,6}$")
_SAMPLE = re.compile(r"^[0-9a-f]{16}-(camera|drawing|upload)-([0-9a-f]{12})\.png$")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}
_FORBIDDEN = set('/\\:*?"<>|')


class DraftError(ValueError):
    """A change to a draft that is refused; the message says why, in the user's words."""


@dataclass(frozen=True)
class MadeClass:
    """One class of a draft: ``samples`` are PNG names in the order they were added."""

    id: str
    name: str
    samples: tuple[str, ...]

    @property
    def folder(self) -> str:
        return folder_name(self.name)

    @property
    def count(self) -> int:
        return len(self.samples)

    def sources(self) -> dict[str, int]:
        """How many samples came from each source (camera, drawing, upload)."""
        found = [_SAMPLE.match(s).group(1) for s in self.samples]
        return {src: found.count(src) for src in SOURCES}


@dataclass(frozen=True)
class Draft:
    """A dataset being made; read fresh from disk by ``load_draft`` after every change."""

    id: str
    name: str
    created: str
    updated: str
    classes: tuple[MadeClass, ...]
    builds: tuple[dict, ...]  # [{path, sha256, date, images}] newest last
    path: Path

    @property
    def images(self) -> int:
        return sum(c.count for c in self.classes)

    def cls(self, class_id: str) -> MadeClass:
        for c in self.classes:
            if c.id == class_id:
                return c
        raise DraftError(f"this dataset has no class {class_id!r} (was it removed in another tab?)")

    def sample_path(self, class_id: str, sample: str) -> Path:
        return self.path / self.cls(class_id).id / sample

    def problems(self) -> list[str]:
        """What is missing before the draft can become a dataset; [] when it is ready."""
        out = []
        if len(self.classes) < MIN_CLASSES:
            have = (f"you have {', '.join(repr(c.name) for c in self.classes)}" if self.classes
                    else "you have none yet")
            out.append(f"Add at least {MIN_CLASSES} classes: a classifier needs two or more "
                       f"({have}).")
        for c in self.classes:
            if c.count == 0:
                out.append(f"{c.name!r} has no images yet: add at least {MIN_PER_CLASS}.")
            elif c.count < MIN_PER_CLASS:
                out.append(f"{c.name!r} has {c.count} image{'s' if c.count > 1 else ''}: add "
                           f"{MIN_PER_CLASS - c.count} more (at least {MIN_PER_CLASS} per class).")
        return out

    @property
    def ready(self) -> bool:
        return not self.problems()


def folder_name(name: str) -> str:
    """A class or dataset name as a folder name that is safe on Linux, macOS and Windows.

    NFC (a macOS name matches a typed one), path separators, ``:*?"<>|`` and control
    characters become ``_``, runs of white space one space, leading dots and spaces go
    (a leading dot would hide the folder from the loader), trailing dots and spaces go
    (Windows drops them), Windows' reserved device names get a ``_``. May return "".
    """
    s = re.sub(r"\s+", " ", unicodedata.normalize("NFC", name))
    s = "".join("_" if c in _FORBIDDEN or unicodedata.category(c).startswith("C") else c for c in s)
    s = s.strip().lstrip(".").strip()[:MAX_NAME].rstrip(". ")
    if s.split(".")[0].upper() in _WINDOWS_RESERVED:
        s += "_"
    return s


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def drafts_dir() -> Path:
    p = data_dir() / "made"
    p.mkdir(parents=True, exist_ok=True)
    return p


def _draft_dir(draft_id: str) -> Path:
    if not isinstance(draft_id, str) or not _ID.match(draft_id):
        raise DraftError(f"not a dataset id: {draft_id!r}")
    return drafts_dir() / draft_id


@contextlib.contextmanager
def _locked(folder: Path):
    """One writer per draft at a time (two tabs adding at once must not lose a class)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; single-user there
        yield
        return
    with open(folder / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_json(path: Path, obj: dict) -> None:
    """Atomic: a crash mid-write leaves the old file, never half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False))
    os.replace(tmp, path)


def _read_meta(folder: Path) -> dict:
    try:
        meta = json.loads((folder / "draft.json").read_text())
    except FileNotFoundError:
        raise DraftError("this dataset no longer exists (deleted in another tab?)") from None
    except (OSError, ValueError) as e:
        raise DraftError(f"this dataset's draft.json cannot be read ({e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("classes"), list):
        raise DraftError("this dataset's draft.json is not a Transfer Lab draft")
    return meta


def _samples(folder: Path) -> tuple[str, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted(p.name for p in folder.iterdir() if _SAMPLE.match(p.name)))


def load_draft(draft_id: str) -> Draft:
    """The draft as it is on disk now; ``DraftError`` if it is gone or damaged."""
    folder = _draft_dir(draft_id)
    meta = _read_meta(folder)
    classes = tuple(MadeClass(c["id"], c["name"], _samples(folder / c["id"]))
                    for c in meta["classes"] if _CLASS_ID.match(str(c.get("id", ""))))
    return Draft(id=draft_id, name=meta.get("name", "My dataset"), created=meta.get("created", ""),
                 updated=meta.get("updated", ""), classes=classes,
                 builds=tuple(meta.get("builds", [])), path=folder)


def list_drafts() -> list[Draft]:
    """Every readable draft, the most recently changed first (damaged ones are left out)."""
    out = []
    for p in drafts_dir().iterdir():
        if p.is_dir() and _ID.match(p.name):
            with contextlib.suppress(DraftError, OSError):
                # the file's mtime breaks ties: ``updated`` is stamped to the second
                out.append((load_draft(p.name), (p / "draft.json").stat().st_mtime_ns))
    out.sort(key=lambda dm: (dm[0].updated, dm[1], dm[0].id), reverse=True)
    return [d for d, _ in out]


def _check_name(name: str, what: str) -> str:
    name = re.sub(r"\s+", " ", unicodedata.normalize("NFC", name or "")).strip()
    if not name:
        raise DraftError(f"give the {what} a name")
    if len(name) > MAX_NAME:
        raise DraftError(f"that {what} name is {len(name)} characters long; at most {MAX_NAME}")
    if not folder_name(name):
        raise DraftError(f"{name!r} cannot name a folder: use some letters or digits")
    return name


def create_draft(name: str = "My dataset") -> Draft:
    name = _check_name(name, "dataset")
    draft_id = uuid.uuid4().hex[:12]
    folder = drafts_dir() / draft_id
    folder.mkdir()
    now = _now()
    _write_json(folder / "draft.json", {"version": 1, "name": name, "created": now, "updated": now,
                                        "classes": [], "next_class": 1, "builds": []})
    return load_draft(draft_id)


def _change(draft_id: str, edit) -> Draft:
    """Apply ``edit(meta, folder)`` under the draft's lock, stamp ``updated``, save."""
    folder = _draft_dir(draft_id)
    _read_meta(folder)  # a clear error for a missing draft, before the lock file is made
    with _locked(folder):
        meta = _read_meta(folder)
        edit(meta, folder)
        meta["updated"] = _now()
        _write_json(folder / "draft.json", meta)
    return load_draft(draft_id)


def rename_draft(draft_id: str, name: str) -> Draft:
    name = _check_name(name, "dataset")
    return _change(draft_id, lambda meta, _: meta.update(name=name))


def _refuse_clash(meta: dict, name: str, skip_id: str | None = None) -> None:
    key = folder_name(name).casefold()
    for c in meta["classes"]:
        if c["id"] != skip_id and folder_name(c["name"]).casefold() == key:
            same = c["name"] == name
            raise DraftError(f"there is already a class called {c['name']!r}" if same else
                             f"{name!r} and the class {c['name']!r} would be the same folder "
                             f"({folder_name(c['name'])!r}); pick a different name")


def add_class(draft_id: str, name: str) -> Draft:
    """A new, empty class; refuses empty names and names that clash with another class's
    folder (case-insensitively: macOS and Windows would merge ``Cat`` and ``cat``)."""
    name = _check_name(name, "class")

    def edit(meta: dict, folder: Path) -> None:
        _refuse_clash(meta, name)
        if len(meta["classes"]) >= MAX_CLASSES:
            raise DraftError(f"a dataset made here has at most {MAX_CLASSES} classes")
        cid = f"c{int(meta.get('next_class', 1))}"
        meta["next_class"] = int(meta.get("next_class", 1)) + 1
        (folder / cid).mkdir(exist_ok=True)
        meta["classes"].append({"id": cid, "name": name})

    return _change(draft_id, edit)


def rename_class(draft_id: str, class_id: str, name: str) -> Draft:
    name = _check_name(name, "class")

    def edit(meta: dict, _: Path) -> None:
        entry = _class_entry(meta, class_id)
        _refuse_clash(meta, name, skip_id=class_id)
        entry["name"] = name

    return _change(draft_id, edit)


def remove_class(draft_id: str, class_id: str) -> Draft:
    """The class and its samples (the user asked for it: the page confirms first)."""

    def edit(meta: dict, folder: Path) -> None:
        _class_entry(meta, class_id)
        meta["classes"] = [c for c in meta["classes"] if c["id"] != class_id]
        shutil.rmtree(folder / class_id, ignore_errors=True)

    return _change(draft_id, edit)


def delete_draft(draft_id: str) -> None:
    """The whole draft and its samples; datasets already built from it stay."""
    shutil.rmtree(_draft_dir(draft_id), ignore_errors=True)


def _class_entry(meta: dict, class_id: str) -> dict:
    for c in meta["classes"]:
        if c["id"] == class_id:
            return c
    raise DraftError(f"this dataset has no class {class_id!r} (was it removed in another tab?)")


def sample_png(data: bytes, *, refuse_flat: bool = False) -> tuple[bytes, str]:
    """An image file's bytes -> (PNG of its centre square at ``SAMPLE_SIDE`` px, pixel sha256).

    ``DraftError`` says why an input is not used: not an allowed image format, damaged,
    too many pixels, or (``refuse_flat``: drawings) one flat colour, an empty canvas.
    """
    try:
        pixels = _decode(data, SAMPLE_SIDE)
    except _Skip as e:
        raise DraftError(str(e)) from None
    except Exception as e:  # noqa: BLE001 Pillow's parsers raise many types on hostile bytes
        raise DraftError(f"unreadable: {type(e).__name__}: {e}") from None
    if refuse_flat and int(pixels.max()) == int(pixels.min()):
        raise DraftError("the drawing is empty: draw something on the canvas first")
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", optimize=True)
    return buf.getvalue(), hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def add_samples(draft_id: str, class_id: str, files: list[tuple[str, bytes]], source: str
                ) -> tuple[Draft, list[str], list[tuple[str, str]]]:
    """Decode and save each ``(file name, bytes)`` into the class at once.

    Returns (draft, names of the files added, ``(file name, why)`` for each one not used).
    One bad file does not stop the others; an identical image already in the class is
    refused, so a double click does not put the same sample in train and test.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    added: list[str] = []
    skipped: list[tuple[str, str]] = []

    def edit(meta: dict, folder: Path) -> None:
        target = folder / _class_entry(meta, class_id)["id"]
        target.mkdir(exist_ok=True)
        have = {_SAMPLE.match(s).group(2) for s in _samples(target)}
        total = sum(len(_samples(folder / c["id"])) for c in meta["classes"])
        for fname, data in files:
            if total >= MAX_SAMPLES:
                skipped.append((fname, f"this dataset already holds {MAX_SAMPLES:,} images"))
                continue
            try:
                png, digest = sample_png(data, refuse_flat=source == "drawing")
            except DraftError as e:
                skipped.append((fname, str(e)))
                continue
            if digest[:12] in have:
                skipped.append((fname, "the same image is already in this class"))
                continue
            name = f"{time.time_ns():016x}-{source}-{digest[:12]}.png"
            tmp = target / f".{name}.part"
            tmp.write_bytes(png)
            os.replace(tmp, target / name)
            have.add(digest[:12])
            added.append(fname)
            total += 1

    draft = _change(draft_id, edit)
    return draft, added, skipped


def delete_sample(draft_id: str, class_id: str, sample: str) -> Draft:
    if not _SAMPLE.match(sample):
        raise DraftError(f"not a sample of this dataset: {sample!r}")

    def edit(meta: dict, folder: Path) -> None:
        (folder / _class_entry(meta, class_id)["id"] / sample).unlink(missing_ok=True)

    return _change(draft_id, edit)


@functools.lru_cache(maxsize=8192)
def thumbnail(path: str, side: int = THUMB_SIDE) -> bytes:
    """A small PNG of one stored sample, for the page's thumbnails.

    Cached by path: a sample's name holds its pixels' sha256, so a path never changes
    content. Decoding and shrinking 128 px samples on every rerun cost ~2 ms each.
    """
    with Image.open(path) as im:
        buf = io.BytesIO()
        im.convert("RGB").resize((side, side), Image.Resampling.BICUBIC).save(buf, format="PNG")
    return buf.getvalue()


def manifest(draft: Draft) -> dict:
    """What the zip and the dataset's sidecar say about where the images came from."""
    return {"made": MADE_IN, "name": draft.name, "draft": draft.id, "created": draft.created,
            "updated": draft.updated, "images": draft.images,
            "classes": [{"name": c.name, "folder": c.folder, "images": c.count, "from": c.sources()}
                        for c in draft.classes]}


def export_zip(draft: Draft) -> bytes:
    """The draft as a zip of class folders (``<folder>/<sample>.png`` plus ``MANIFEST``).

    Deterministic: same samples, names and last change -> same bytes. ``DraftError`` (with
    what is missing) unless the draft is ready.
    """
    if draft.problems():
        raise DraftError(" ".join(draft.problems()))
    try:
        stamp = datetime.strptime(draft.updated, "%Y-%m-%dT%H:%M:%SZ").timetuple()[:6]
    except ValueError:
        stamp = (1980, 1, 1, 0, 0, 0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        def put(arcname: str, data: bytes, method: int) -> None:
            info = zipfile.ZipInfo(arcname, date_time=stamp)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)

        put(MANIFEST, json.dumps(manifest(draft), indent=1, ensure_ascii=False).encode(),
            zipfile.ZIP_DEFLATED)
        for c in draft.classes:
            for s in c.samples:  # PNGs are compressed already
                put(f"{c.folder}/{s}", (draft.path / c.id / s).read_bytes(), zipfile.ZIP_STORED)
    return buf.getvalue()


def zip_filename(draft: Draft) -> str:
    return f"{folder_name(draft.name) or 'dataset'}.zip"


def fitting_split(smallest: int) -> tuple[int, int, int]:
    """(labels, validation, test) per class for a small class of ``smallest`` images: a
    fifth each for validation and test (at least one), the rest labelled. 5 -> (3, 1, 1),
    10 -> (6, 2, 2), 50 -> (30, 10, 10)."""
    if smallest < 3:
        raise ValueError(f"a split needs at least 3 images per class, got {smallest}")
    held = max(1, round(smallest / 5))
    return smallest - 2 * held, held, held


def build(draft_id: str) -> tuple[str, dict]:
    """Turn a ready draft into a dataset, exactly as an uploaded zip: returns (path, info)
    from ``ingest_upload``, with ``info["made"]`` the manifest (also in the sidecar).

    ``DraftError`` says what is missing, or why the store refused it; nothing is written
    then. An unchanged draft built twice gives the same path.
    """
    from tlcore.preview import UploadRejected, ingest_upload

    draft = load_draft(draft_id)
    data = export_zip(draft)
    try:
        path, info = ingest_upload(data, f"{draft.name}, made in the app")
    except UploadRejected as e:
        raise DraftError(str(e)) from None
    info = {**info, "made": manifest(draft)}
    _write_json(Path(path).with_suffix(".json"), info)
    entry = {"path": path, "sha256": info["sha256"], "date": _now(), "images": info["images"]}
    folder = _draft_dir(draft_id)
    with _locked(folder):  # not _change: recording a build does not change the samples
        meta = _read_meta(folder)
        meta["builds"] = [b for b in meta.get("builds", []) if b.get("path") != path] + [entry]
        _write_json(folder / "draft.json", meta)
    return path, info
