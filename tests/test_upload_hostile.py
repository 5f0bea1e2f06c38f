"""Hostile and odd uploads: every case gives a clear error or a skipped-and-listed file,
and nothing is written outside the data folder.

Each test builds its input in ``tmp_path`` and names (``guards:``) the protection in
``tlcore/data/folder.py`` or ``tlcore/preview.py`` it would catch being removed. Caps are
monkeypatched down where a real-size input would make the test slow.
"""

from __future__ import annotations

import io
import os
import stat
import threading
import unicodedata
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests.upload_helpers import GOOD
from tests.upload_helpers import image_bytes as _img
from tests.upload_helpers import write_zip as _zip
from tlcore.data import folder as F
from tlcore.data import load_image_folder
from tlcore.data.folder import UploadError
from tlcore.preview import UploadRejected, ingest_upload, uploads_dir


def _raw_member(name: str, data: bytes, attr: int = 0) -> zipfile.ZipInfo:
    """A member whose name zipfile does not normalise (as a hostile tool would write it)."""
    info = zipfile.ZipInfo("placeholder")
    info.filename = name
    info.external_attr = attr
    info.comment = data  # carried to _zip, which writes it as the member's data
    return info


def _write(root, files: dict):
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def _tree(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# -- rejected as a whole -------------------------------------------------------------

@pytest.mark.parametrize("evil", ["../evil.png", "cat/../../evil.png", "/etc/evil.png",
                                  "C:/evil.png", "..\\evil.png"])
def test_zip_slip_rejected_and_nothing_written(tmp_path, tmp_data_dir, evil):
    # guards: _safe_member (absolute / drive / '..') in folder.py
    data = _zip(tmp_path / "slip.zip", {**GOOD, evil: _raw_member(evil, _img())}).read_bytes()
    with pytest.raises(UploadRejected, match="unsafe path in zip"):
        ingest_upload(data, "slip.zip")
    assert _tree(tmp_path) == ["data", "data/uploads", "slip.zip"]  # nothing extracted, no leftovers


def test_symlink_member_rejected(tmp_path):
    # guards: the S_ISLNK(external_attr >> 16) check in _zip_entries
    link = _raw_member("cat/passwd.png", b"../../../../etc/passwd", attr=(stat.S_IFLNK | 0o777) << 16)
    path = _zip(tmp_path / "links.zip", {**GOOD, "cat/passwd.png": link})
    with pytest.raises(UploadError, match="symbolic link"):
        load_image_folder(path)


def test_zip_bomb_ratio_rejected(tmp_path):
    # guards: the MAX_RATIO check in _zip_entries (2 MiB of zeros deflate ~1000x)
    path = _zip(tmp_path / "bomb.zip", {**GOOD, "cat/bomb.bmp": bytes(2 * 1024 * 1024)})
    with pytest.raises(UploadError, match="zip bomb"):
        load_image_folder(path)


def test_total_unpacked_size_capped(tmp_path, monkeypatch):
    # guards: the MAX_TOTAL_BYTES check in _read_entries (stored, so the ratio is 1)
    monkeypatch.setattr(F, "MAX_TOTAL_BYTES", 1000)
    files = {**GOOD, "cat/big.bmp": _img(size=(20, 20), fmt="BMP")}  # 1,254 bytes
    path = _zip(tmp_path / "big.zip", files, zipfile.ZIP_STORED)
    with pytest.raises(UploadError, match="unpack to"):
        load_image_folder(path)
    with pytest.raises(UploadError, match="unpack to"):  # the same cap for folders
        load_image_folder(_write(tmp_path / "big", files))


def test_thousands_of_classes_rejected(tmp_path):
    # guards: the MAX_CLASSES check in _read_entries (counted before any image is decoded)
    tiny = _img(size=(1, 1))
    path = _zip(tmp_path / "many.zip", {f"class {i}/x.png": tiny for i in range(F.MAX_CLASSES + 1)})
    with pytest.raises(UploadError, match="class folders"):
        load_image_folder(path)


def test_too_many_files_rejected(tmp_path, monkeypatch):
    # guards: the MAX_FILES checks in _zip_entries and _folder_entries
    monkeypatch.setattr(F, "MAX_FILES", 3)
    with pytest.raises(UploadError, match="files"):
        load_image_folder(_zip(tmp_path / "many.zip", GOOD))
    with pytest.raises(UploadError, match="files"):
        load_image_folder(_write(tmp_path / "many", GOOD))


def test_damaged_zip_is_a_clean_error(tmp_path, tmp_data_dir):
    # guards: the except around zipfile.ZipFile(...) in load_image_folder (BadZipFile is
    # not a ValueError)
    data = bytearray(_zip(tmp_path / "ok.zip", GOOD).read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central:central + 4] = b"XXXX"  # the end record is intact: still "a zip"
    (tmp_path / "bad.zip").write_bytes(bytes(data))
    with pytest.raises(UploadError, match="damaged"):
        load_image_folder(tmp_path / "bad.zip")
    with pytest.raises(UploadRejected, match="damaged"):
        ingest_upload(bytes(data), "bad.zip")
    with pytest.raises(UploadRejected, match="not a zip"):
        ingest_upload(bytes(data[:-30]), "cut.zip")  # end record cut off
    assert _tree(tmp_data_dir) == ["uploads"]  # nothing kept


# -- single files skipped and listed -------------------------------------------------

def test_decompression_bomb_skipped_before_decoding(tmp_path, monkeypatch):
    # guards: the w * h > MAX_PIXELS check in _decode (before im.load())
    monkeypatch.setattr(F, "MAX_PIXELS", 10_000)
    files = {**GOOD, "cat/huge.png": _img(size=(200, 200))}
    ds = load_image_folder(_zip(tmp_path / "px.zip", files))
    assert "too many pixels" in ds.meta["skip_reasons"]["cat/huge.png"]
    assert len(ds) == 4


def test_forged_header_with_absurd_size_skipped(tmp_path):
    # a 100000 x 100000 PNG header with no pixel data: skipped, never allocated
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    png = bytearray(buf.getvalue())
    png[16:24] = (100_000).to_bytes(4, "big") * 2  # IHDR width, height (CRC now wrong too)
    ds = load_image_folder(_zip(tmp_path / "forged.zip", {**GOOD, "cat/forged.png": bytes(png)}))
    assert "cat/forged.png" in ds.meta["skipped"] and len(ds) == 4


def test_non_image_files_skipped(tmp_path):
    # guards: the IMAGE_SUFFIXES check and ALLOWED_FORMATS (a PCX or EPS named .png is not
    # handed to Pillow's other parsers)
    pcx = _img(fmt="PCX")
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    files = {**GOOD, "cat/notes.txt": b"hi", "dog/run.exe": b"MZ\x90", "cat/x.pcx.png": pcx,
             "dog/y.png": eps}
    ds = load_image_folder(_zip(tmp_path / "mixed.zip", files))
    r = ds.meta["skip_reasons"]
    assert r["cat/notes.txt"] == r["dog/run.exe"] == "not an image file extension"
    assert "not a PNG, JPEG" in r["cat/x.pcx.png"] and "not a PNG, JPEG" in r["dog/y.png"]
    assert len(ds) == 4


def test_corrupt_and_truncated_images_skipped_and_listed(tmp_path):
    # guards: the try/except around _decode in _read_entries (one bad file does not sink an upload)
    png, jpg = _img(size=(64, 64)), _img(size=(64, 64), fmt="JPEG")
    files = {**GOOD, "cat/cut.png": png[: len(png) // 2], "dog/cut.jpg": jpg[: len(jpg) // 3],
             "dog/zero.png": b"", "cat/garbage.jpg": os.urandom(300)}
    ds = load_image_folder(_zip(tmp_path / "bad.zip", files))
    assert {"cat/cut.png", "dog/cut.jpg", "dog/zero.png", "cat/garbage.jpg"} <= set(ds.meta["skipped"])
    assert all(ds.meta["skip_reasons"][k].startswith("unreadable") for k in ("cat/cut.png", "dog/zero.png"))
    assert len(ds) == 4


def test_damaged_member_skipped(tmp_path):
    # guards: _UNPACK_ERRORS around the member read (a CRC error is not a crash)
    path = _zip(tmp_path / "crc.zip", {**GOOD, "cat/3.png": _img((1, 2, 3), size=(32, 32))},
                zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        off = zf.getinfo("cat/3.png").header_offset + 30 + len("cat/3.png") + 40
    data[off] ^= 0xFF
    path.write_bytes(bytes(data))
    ds = load_image_folder(path)
    assert "cannot be unpacked" in ds.meta["skip_reasons"]["cat/3.png"] and len(ds) == 4


def test_encrypted_member_skipped(tmp_path):
    # guards: the flag_bits & 0x1 pre-skip in _zip_entries (zipfile would raise RuntimeError)
    path = _zip(tmp_path / "enc.zip", {**GOOD, "cat/secret.png": _img()})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        local = zf.getinfo("cat/secret.png").header_offset
    central = data.index(b"PK\x01\x02", data.index(b"cat/secret.png", local + 30 + 14) - 46)
    data[local + 6] |= 0x1  # "encrypted" flag in the local header ...
    data[central + 8] |= 0x1  # ... and in the central directory
    path.write_bytes(bytes(data))
    ds = load_image_folder(path)
    assert ds.meta["skip_reasons"]["cat/secret.png"] == "encrypted (password-protected zip)"


def test_control_characters_in_names_skipped(tmp_path):
    # guards: the unicodedata "Cc" check in _read_entries
    ds = load_image_folder(_zip(tmp_path / "cc.zip", {**GOOD, "cat/a\nb.png": _img()}))
    assert ds.meta["skip_reasons"]["cat/a\nb.png"] == "control characters in the file name"


# -- classes -------------------------------------------------------------------------

def test_one_class_rejected_and_nothing_kept(tmp_path, tmp_data_dir):
    # guards: the num_classes < 2 check in ingest_upload
    data = _zip(tmp_path / "one.zip", {"cat/1.png": _img(), "cat/2.png": _img()}).read_bytes()
    with pytest.raises(UploadRejected, match="one class"):
        ingest_upload(data, "one.zip")
    assert list(uploads_dir().iterdir()) == []


def test_empty_classes_listed(tmp_path, tmp_data_dir):
    # guards: meta["empty_classes"] (folders with no readable image are named, not silently dropped)
    files = {**GOOD, "bird/broken.png": b"nope", "fish/": b""}
    ds = load_image_folder(_zip(tmp_path / "e.zip", files))
    assert ds.class_names == ("cat", "dog") and ds.meta["empty_classes"] == ["bird", "fish"]
    one = {"cat/1.png": _img(), "dog/broken.png": b"nope"}
    with pytest.raises(UploadRejected, match="no readable image: 'dog'"):
        ingest_upload(_zip(tmp_path / "one.zip", one).read_bytes(), "one.zip")


# -- odd but legitimate --------------------------------------------------------------

def _mode_image(mode: str) -> tuple[bytes, int]:
    """Image bytes in ``mode`` and the grey level (0-255) it should decode to."""
    buf = io.BytesIO()
    if mode == "I;16":
        Image.fromarray(np.full((6, 6), 32896, np.uint16)).save(buf, format="PNG")  # 128 * 257
        return buf.getvalue(), 128
    if mode == "F":
        Image.fromarray(np.full((6, 6), 0.5, np.float32)).save(buf, format="TIFF")
        return buf.getvalue(), 128
    if mode == "P":
        Image.new("RGB", (6, 6), (128, 128, 128)).convert("P").save(buf, format="PNG")
        return buf.getvalue(), 128
    if mode == "RGBA":  # fully transparent: white
        Image.new("RGBA", (6, 6), (0, 0, 0, 0)).save(buf, format="PNG")
        return buf.getvalue(), 255
    if mode == "1":
        Image.new("1", (6, 6), 1).save(buf, format="BMP")
        return buf.getvalue(), 255
    if mode == "CMYK":
        Image.new("CMYK", (6, 6), (0, 0, 0, 0)).save(buf, format="JPEG", quality=100)
        return buf.getvalue(), 255
    Image.new(mode, (6, 6), (128,) * (len(mode) - 1) + (128 if mode != "LA" else 255,)).save(buf, format="PNG")
    return buf.getvalue(), 128


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "1", "CMYK", "I;16", "F"])
def test_mixed_modes(tmp_path, mode):
    # guards: _to_8bit (Pillow's convert clips 16-bit grey to white) and the alpha composite
    data, grey = _mode_image(mode)
    ds = load_image_folder(_zip(tmp_path / "m.zip", {**GOOD, "cat/m.x": b"", f"cat/m{mode}.tif": data}),
                           size=4)
    key = f"cat/m{mode}.tif"
    assert key not in ds.meta["skipped"], ds.meta["skip_reasons"].get(key)
    img = ds.images[ds.meta["files"].index(key)]
    assert img.shape == (3, 4, 4) and abs(int(img.float().mean()) - grey) <= 2


@pytest.mark.parametrize("size", [(1, 1), (1, 300), (300, 1), (7, 3), (33, 32)])
def test_odd_sizes(tmp_path, size):
    ds = load_image_folder(_zip(tmp_path / "s.zip", {**GOOD, "cat/odd.png": _img(size=size)}), size=16)
    assert tuple(ds.images.shape) == (5, 3, 16, 16)


def test_unicode_and_spaces_in_names(tmp_path):
    # guards: NFC normalisation of class names (a macOS zip writes "café" decomposed)
    nfd, nfc = unicodedata.normalize("NFD", "café"), unicodedata.normalize("NFC", "café")
    files = {f"{nfd}/1.png": _img(), f"{nfc}/2.png": _img(), "chats noirs/ün ï.png": _img(),
             "猫 咪/图 片.jpg": _img(fmt="JPEG")}
    for ds in (load_image_folder(_zip(tmp_path / "u.zip", files)),
               load_image_folder(_write(tmp_path / "u dir", files))):
        assert ds.class_names == tuple(sorted([nfc, "chats noirs", "猫 咪"]))
        assert ds.class_counts()[ds.class_names.index(nfc)] == 2


# -- folders -------------------------------------------------------------------------

def test_folder_symlinks_not_followed_outside(tmp_path):
    # guards: the is_relative_to(root) check and symlinked-folder skip in _folder_entries
    secret = _write(tmp_path / "outside", {"secret.png": _img((1, 2, 3)), "cls/s.png": _img()})
    root = _write(tmp_path / "up", GOOD)
    (root / "cat" / "leak.png").symlink_to(secret / "secret.png")
    (root / "dog" / "same.png").symlink_to(root / "dog" / "1.png")  # inside: fine
    (root / "leakdir").symlink_to(secret / "cls", target_is_directory=True)
    ds = load_image_folder(root)
    r = ds.meta["skip_reasons"]
    assert "outside the folder" in r["cat/leak.png"] and "not followed" in r["leakdir/"]
    assert "dog/same.png" in ds.meta["files"] and ds.class_names == ("cat", "dog") and len(ds) == 5


def test_folder_fifo_not_read(tmp_path):
    # guards: the S_ISREG check in _folder_entries (reading a FIFO blocks forever)
    root = _write(tmp_path / "up", GOOD)
    os.mkfifo(root / "cat" / "pipe.png")
    out = {}
    t = threading.Thread(target=lambda: out.update(ds=load_image_folder(root)), daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "load_image_folder blocked on a FIFO"
    assert out["ds"].meta["skip_reasons"]["cat/pipe.png"] == "not a regular file"
