"""Fuzzing the two parsers that take untrusted input: uploads and URL parameters.

Bounded for CI (a few seconds each): ``max_examples`` about 200, no per-example deadline
(a 2-core runner stalls now and then), no example database written into the repo.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tlcore.config import RunConfig
from tlcore.data import load_image_folder
from tlcore.data.base import ImageDataset
from tlcore.preview import UploadRejected, ingest_upload
from tlcore.urlstate import LIMITS, config_from_params, config_to_params

FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _png(colour: int, w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (colour, 255 - colour, colour // 2)).save(buf, format="PNG")
    return buf.getvalue()


# path parts, hostile ones included
PART = st.one_of(st.sampled_from(["cat", "dog", "..", ".", "", "C:", "__MACOSX", ".hidden",
                                  "a b", "café", "猫", "x.png", "y.jpg", "z.txt"]),
                 st.text(min_size=1, max_size=8))
NAME = st.builds(lambda parts, lead: lead + "/".join(parts),
                 st.lists(PART, min_size=1, max_size=4), st.sampled_from(["", "", "/", "\\"]))
PNG = st.builds(_png, st.integers(0, 255), st.integers(1, 12), st.integers(1, 12))
DATA = st.one_of(PNG, st.binary(max_size=200), PNG.map(lambda b: b[: len(b) // 2]),
                 st.builds(lambda b, i: b[:i] + bytes([b[i] ^ 0xFF]) + b[i + 1:] if len(b) > i else b,
                           PNG, st.integers(0, 100)))
MEMBERS = st.lists(st.tuples(NAME, DATA, st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
                             st.sampled_from([0, 0, 0o120777 << 16])), max_size=8)


def _zip_bytes(members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, method, attr in members:
            info = zipfile.ZipInfo("placeholder")
            info.filename = name  # as a hostile tool writes it: not normalised
            info.compress_type = method
            info.external_attr = attr
            zf.writestr(info, data)
    return buf.getvalue()


def _files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


# Where a hostile member would land if anything wrote it to disk: the parser runs five
# folders deep with that folder as its working directory, so a name with up to four ".."
# parts (NAME's most) still lands inside the temporary tree the tests list afterwards.
BOX = Path("1/2/3/4/5")


@contextmanager
def _sealed(monkeypatch=None):
    """A fresh temporary tree; yields (root, ROOT/BOX) with BOX as the working directory
    (and, given ``monkeypatch``, ``ROOT/BOX/data`` as the data folder)."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / BOX / "data").mkdir(parents=True)
        if monkeypatch is not None:
            monkeypatch.setenv("TLAB_DATA_DIR", str(root / BOX / "data"))
        cwd = os.getcwd()
        os.chdir(root / BOX)
        try:
            yield root, root / BOX
        finally:
            os.chdir(cwd)


def _load(data: bytes) -> ImageDataset | None:
    """load_image_folder on ``data`` saved as a .zip: a dataset or a ValueError, nothing else;
    accepted or rejected, nothing is written next to it, below it or above it."""
    with _sealed() as (root, box):
        (box / "up.zip").write_bytes(data)
        try:
            ds = load_image_folder(box / "up.zip", size=4)
        except ValueError:
            ds = None  # a rejection (the path a zip slip takes) must leave nothing behind too
        assert _files_under(root) == [str(BOX / "up.zip")]  # nothing extracted
    if ds is not None:
        assert len(ds) == len(ds.labels) == len(ds.meta["files"]) and ds.images.shape[1:] == (3, 4, 4)
    return ds


@FUZZ
@given(MEMBERS)
def test_random_zip_structures(members):
    _load(_zip_bytes(members))


@FUZZ
@given(MEMBERS.filter(bool), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6))
def test_damaged_zips(members, flips):
    data = bytearray(_zip_bytes(members))
    for pos, val in flips:
        data[pos % len(data)] = val
    _load(bytes(data))


STORED = re.compile(rf"^{BOX}/data/uploads/[0-9a-f]{{64}}\.(zip|json)$")


def _upload(data: bytes, monkeypatch) -> dict | None:
    """ingest_upload in a sealed tree: accepted, it adds exactly ``<sha256>.zip`` and its
    ``.json`` sidecar (no ``.part`` leftover, no extracted member); rejected, nothing."""
    with _sealed(monkeypatch) as (root, _):
        try:
            path, info = ingest_upload(data, "fuzz.zip")
        except UploadRejected:
            assert _files_under(root) == []  # a rejection leaves the tree as it was
            return None
        stored = str(Path(path).relative_to(root))
        assert STORED.match(stored), stored
        assert _files_under(root) == sorted([stored, stored[:-4] + ".json"])
        return info


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_as_upload(monkeypatch, data):
    info = _upload(data, monkeypatch)
    if info is not None:  # (random bytes never get here; the assertion documents the contract)
        assert info["images"] >= 2


@FUZZ
@given(MEMBERS)
def test_random_zips_as_upload(monkeypatch, members):
    _upload(_zip_bytes(members), monkeypatch)


# -- URL parameters ----------------------------------------------------------------------

FIELDS = [f.name for f in dataclasses.fields(RunConfig)]
VALUE = st.one_of(st.text(max_size=20), st.sampled_from(
    ["default", "none", "true", "nan", "inf", "-inf", "1e309", "-1", "0", "1e-300", "9" * 30,
     "/etc", "../../etc/passwd", "mnist:rotate=99", "head:nan", "a:1,b:inf", "x" * 301]),
    st.integers(-10**12, 10**12).map(str), st.floats(allow_nan=True).map(repr))
PARAMS = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), VALUE, max_size=10)


@FUZZ
@given(PARAMS)
def test_url_params_never_raise(tmp_data_dir, params):
    cfg, notices = config_from_params(params)
    assert isinstance(cfg, RunConfig) and all(isinstance(n, str) for n in notices)
    RunConfig.from_dict(cfg.to_dict())  # a valid config: it round-trips and validates
    cfg.run_id()
    for key, (low, high) in LIMITS.items():
        val = getattr(cfg, key)
        assert val is None or low <= val <= high or val == getattr(RunConfig(), key)
    assert cfg.dataset == RunConfig().dataset or not cfg.dataset.startswith(("/", "."))
    if any(k in FIELDS for k in params) and cfg == RunConfig():
        # every of our keys was either the default already or produced a notice
        assert notices or all(config_to_params(RunConfig()).get(k) is None for k in params)


@FUZZ
@given(st.builds(RunConfig, epochs=st.integers(1, 500), batch_size=st.integers(1, 4096),
                 lr=st.floats(1e-6, 10), seed=st.integers(0, 2**32 - 1), augment=st.booleans(),
                 labels_per_class=st.one_of(st.none(), st.integers(1, 1000)),
                 dataset=st.sampled_from(["mnist", "digits", "mnist:rotate=3"])))
def test_url_params_round_trip(tmp_data_dir, cfg):
    back, notices = config_from_params(config_to_params(cfg))
    assert back == cfg and notices == []


@pytest.mark.parametrize("text", ["/etc", "/root/.ssh", "..", "/etc:rotate=1"])
def test_link_cannot_name_a_server_folder(tmp_data_dir, text):
    # guards: _path_allowed in urlstate (a link naming any server folder shows its images)
    cfg, notices = config_from_params({"dataset": text})
    assert cfg.dataset == RunConfig().dataset and "not a folder on the server" in notices[0]


def test_link_can_name_an_upload(tmp_data_dir):
    up = tmp_data_dir / "uploads"
    up.mkdir(parents=True)
    (up / "abc.zip").write_bytes(b"")
    cfg, notices = config_from_params({"dataset": str(up / "abc.zip"), "target": f"{up / 'abc.zip'}:rotate=2"})
    assert cfg.dataset == str(up / "abc.zip") and notices == []


def test_link_limits(tmp_data_dir):
    # guards: LIMITS in urlstate (a link asking for 10^9 epochs would tie up the worker)
    cfg, notices = config_from_params({"epochs": "1000000000", "batch_size": "99999999",
                                       "device": "cuda:7"})
    assert (cfg.epochs, cfg.batch_size, cfg.device) == (15, 16, "cpu") and len(notices) == 3
