"""Fuzzing the two parsers that take untrusted input: uploads and URL parameters.

Bounded for CI (a few seconds each): ``max_examples`` about 200, no per-example deadline
(a 2-core runner stalls now and then), no example database written into the repo.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
import zipfile
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


def _load(data: bytes) -> ImageDataset | None:
    """load_image_folder on ``data`` saved as a .zip: a dataset or a ValueError, nothing else."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "up.zip"
        path.write_bytes(data)
        try:
            ds = load_image_folder(path, size=4)
        except ValueError:
            return None
        assert sorted(p.name for p in Path(d).iterdir()) == ["up.zip"]  # nothing extracted
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


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_as_upload(tmp_data_dir, data):
    try:
        path, info = ingest_upload(data, "fuzz.zip")
    except UploadRejected:
        return
    assert info["images"] >= 2  # (random bytes never get here; the assertion documents the contract)


@FUZZ
@given(MEMBERS)
def test_random_zips_as_upload(tmp_data_dir, members):
    try:
        ingest_upload(_zip_bytes(members), "fuzz.zip")
    except UploadRejected:
        pass
    uploads = tmp_data_dir / "uploads"
    assert not [p for p in uploads.iterdir() if p.name.endswith(".part")]  # no leftovers


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
