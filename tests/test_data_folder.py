"""User image folders and zips: layout, resizing, skipped files, unsafe zip members."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from tlcore.data import load_image_folder
from tlcore.paths import sha256_file

COLOURS = {"cat": (255, 0, 0), "dog": (0, 0, 255)}


def _png(colour, size=(40, 20), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, format="PNG")
    return buf.getvalue()


def _tree() -> dict[str, bytes]:
    files = {f"{cls}/{i}.png": _png(c) for cls, c in COLOURS.items() for i in range(3)}
    files["dog/broken.png"] = b"\x89PNG\r\n\x1a\nnot really a png"
    files["dog/nested/extra.png"] = _png(COLOURS["dog"])
    files["cat/half_transparent.png"] = _png((0, 0, 0, 0), mode="RGBA")
    files["README.txt"] = b"a loose file at the root"
    return files


def _write_folder(root, files):
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def _write_zip(path, files, prefix=""):
    with zipfile.ZipFile(path, "w") as zf:
        for rel, data in files.items():
            zf.writestr(prefix + rel, data)
    return path


def _check(ds):
    assert ds.class_names == ("cat", "dog")
    assert tuple(ds.images.shape) == (8, 3, 16, 16)
    assert ds.class_counts() == [4, 4]  # cat: 3 + transparent; dog: 3 + nested - broken
    img = ds.images.numpy()
    cat_idx = [i for i, f in enumerate(ds.meta["files"]) if f.endswith("cat/0.png")][0]
    assert (img[cat_idx].reshape(3, -1).T == COLOURS["cat"]).all()  # centre crop, no bars
    transparent = [i for i, f in enumerate(ds.meta["files"]) if "half_transparent" in f][0]
    assert (img[transparent] == 255).all()  # transparency composited onto white
    dog = ds.images[ds.labels == 1].numpy()
    assert (dog.transpose(0, 2, 3, 1).reshape(-1, 3) == COLOURS["dog"]).all()
    assert ds.meta["skipped"] == sorted(k for k in ds.meta["skip_reasons"])
    assert any(k.endswith("dog/broken.png") for k in ds.meta["skipped"])
    assert any(k.endswith("README.txt") for k in ds.meta["skipped"])
    assert "unreadable" in next(v for k, v in ds.meta["skip_reasons"].items()
                                if k.endswith("broken.png"))
    assert ds.provenance.licence and len(ds.provenance.files[0][1]) == 64


def test_folder(tmp_path):
    root = _write_folder(tmp_path / "pets", _tree())
    ds = load_image_folder(root, size=16)
    _check(ds)
    assert ds.name == "pets" and ds.meta["kind"] == "folder"
    assert ds.provenance.files[0][0] == str(root.resolve())
    # the folder hash follows the content
    (root / "cat" / "0.png").write_bytes(_png((1, 2, 3)))
    assert load_image_folder(root, size=16).provenance.files[0][1] != ds.provenance.files[0][1]


@pytest.mark.parametrize("prefix", ["", "pets/"])
def test_zip(tmp_path, prefix):
    path = _write_zip(tmp_path / "pets.zip", _tree(), prefix=prefix)
    ds = load_image_folder(path, size=16)
    _check(ds)
    assert ds.meta["kind"] == "zip" and ds.provenance.files[0][1] == sha256_file(path)
    assert list(tmp_path.iterdir()) == [path]  # nothing extracted next to it


def test_aspect_is_kept_by_centre_crop(tmp_path):
    im = np.zeros((20, 60, 3), np.uint8)
    im[:, 20:40] = 255  # a white middle third, black sides
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        Image.fromarray(im).save(tmp_path / cls / "x.png")
    ds = load_image_folder(tmp_path, size=20)
    assert (ds.images[0] == 255).all()  # the crop is the square centre; sides cut off


@pytest.mark.parametrize("evil", ["../evil.png", "cat/../../evil.png", "/abs/evil.png",
                                  "C:/evil.png", "..\\evil.png"])
def test_unsafe_zip_member_rejected(tmp_path, evil):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for rel, data in _tree().items():
            zf.writestr(rel, data)
        info = zipfile.ZipInfo("placeholder")
        info.filename = evil  # bypass zipfile's own name normalisation
        zf.writestr(info, _png((0, 0, 0)))
    with pytest.raises(ValueError, match="unsafe path in zip"):
        load_image_folder(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip"]


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "notzip.zip").write_bytes(b"hello")
    with pytest.raises(ValueError, match="not a zip"):
        load_image_folder(tmp_path / "notzip.zip")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    (tmp_path / "empty" / "cls" / "x.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="no readable images"):
        load_image_folder(tmp_path / "empty")
