"""Small image zips for the upload tests: one image's bytes, a good two-class upload, and
a writer that also takes a hand-made ``ZipInfo`` (for members a normal tool never writes)."""

from __future__ import annotations

import io
import zipfile

from PIL import Image


def image_bytes(colour=(200, 30, 30), size=(8, 8), mode="RGB", fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, format=fmt)
    return buf.getvalue()


# two classes of two images each: the smallest upload ingest_upload accepts
GOOD = {"cat/1.png": image_bytes((255, 0, 0)), "cat/2.png": image_bytes((250, 0, 0)),
        "dog/1.png": image_bytes((0, 0, 255)), "dog/2.png": image_bytes((0, 0, 250))}


def write_zip(path, files: dict, compression=zipfile.ZIP_DEFLATED):
    """``files`` (name -> bytes, or a ``ZipInfo`` whose ``comment`` holds the data) zipped at ``path``."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in files.items():
            if isinstance(data, zipfile.ZipInfo):
                zf.writestr(data, data.comment)
                continue
            zf.writestr(name, data)
    return path
