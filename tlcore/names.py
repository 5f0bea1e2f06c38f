"""The names a person reads for domains: a registered dataset by its name, an upload by
its original file name, never by its stored path (``uploads/<sha256>.zip``) or a temp dir.

Paths stay where a path is asked for (provenance keeps the file name and the sha256). Two
different uploads that share a file name get a short suffix from their sha256, so a
comparison of the two still tells them apart.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


def domain_label(text: str | None) -> str:
    """``mnist``, ``mnist (rotate 3)``, ``animals.zip (upload)``, ``animals.zip (upload 3fa2c1)``
    when another upload has the same name; "" for None. Never raises: a domain whose upload
    is gone shows its file name."""
    from tlcore.data import parse_domain

    if not text:
        return ""
    try:
        spec = parse_domain(text)
    except ValueError:
        head, sep, tail = text.rpartition(":")  # a missing upload, maybe with shifts
        return Path(head if sep and "=" in tail else text).name or text
    base = upload_label(spec.dataset) if spec.is_path else spec.dataset
    shifts = ", ".join(f"{n} {s}" for n, s in spec.shifts)
    return f"{base} ({shifts})" if shifts else base


def upload_label(path: str) -> str:
    """An uploaded or made-in-the-app dataset by its original file name."""
    uploads = Path(path).parent
    try:
        stamp = uploads.stat().st_mtime_ns  # a new upload changes the folder: names recomputed
    except OSError:
        stamp = 0
    return _upload_label(str(path), stamp)


@lru_cache(maxsize=256)
def _upload_label(path: str, stamp: int) -> str:
    from tlcore.preview import list_uploads, upload_info

    info = upload_info(path)
    if not info or not info.get("filename"):
        return Path(path).name
    name = info["filename"]
    # a dataset made in the app is named "<draft>, made in the app" already
    kind = [] if info.get("made") else ["upload"]
    twins = [p for p in list_uploads() if Path(p) != Path(path)
             and (upload_info(p) or {}).get("filename") == name]
    tags = kind + ([Path(path).stem[:6]] if twins else [])
    return f"{name} ({' '.join(tags)})" if tags else name


def pair_label(dataset: str, target: str | None) -> str:
    """``source → target`` in readable names."""
    return domain_label(dataset) + (f" → {domain_label(target)}" if target else "")
