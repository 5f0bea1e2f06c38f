"""A link names an upload by a short token of its sha256, never by its server path, and
the token comes back as the same stored upload."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image

from tlcore.config import RunConfig
from tlcore.urlstate import config_from_params, config_to_params


def _zip(classes: tuple[str, str] = ("a", "b"), per_class: int = 3, step: int = 60, base: int = 0) -> bytes:
    """A zip of two class folders of flat grey 8 px PNGs (their shades differ per image)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, c in enumerate(classes):
            for i in range(per_class):
                out = io.BytesIO()
                Image.new("L", (8, 8), base + step * i + 100 * k).save(out, format="PNG")
                z.writestr(f"{c}/{i}.png", out.getvalue())
    return buf.getvalue()


def test_an_upload_round_trips_through_a_short_token(tmp_data_dir):
    from tlcore.preview import ingest_upload

    path, _ = ingest_upload(_zip(), "pets.zip")
    cfg = RunConfig(dataset=path, target=path + ":rotate=2", labels_per_class=1)
    params = config_to_params(cfg)
    sha = Path(path).stem
    assert params["dataset"] == f"upload:{sha[:12]}"
    assert params["target"] == f"upload:{sha[:12]}:rotate=2"
    assert all(str(tmp_data_dir) not in v for v in params.values())
    back, notices = config_from_params(params)
    assert back == cfg and not notices


def test_an_unknown_or_malformed_token_falls_back_with_a_notice(tmp_data_dir):
    for raw in ("upload:0123456789ab", "upload:zz", "upload:"):
        cfg, notices = config_from_params({"dataset": raw})
        assert cfg.dataset == RunConfig().dataset
        assert len(notices) == 1 and "upload" in notices[0], notices


def test_uploads_are_named_by_file_name_and_twins_told_apart(tmp_data_dir):
    from tlcore.names import domain_label, pair_label
    from tlcore.preview import ingest_upload

    a, _ = ingest_upload(_zip(), "pets.zip")
    assert domain_label(a) == "pets.zip (upload)"
    assert domain_label(a + ":rotate=2") == "pets.zip (upload) (rotate 2)"
    other = _zip()[:-22] + _zip()[-22:]  # same bytes: the same upload, no twin
    assert ingest_upload(other, "pets.zip")[0] == a and domain_label(a) == "pets.zip (upload)"
    b, _ = ingest_upload(_zip(("x", "y"), step=30, base=5), "pets.zip")  # other images, same name: a twin
    assert domain_label(a) == f"pets.zip (upload {Path(a).stem[:6]})"
    assert domain_label(b) == f"pets.zip (upload {Path(b).stem[:6]})"
    assert pair_label("mnist", b).startswith("mnist → pets.zip")
    assert domain_label(str(tmp_data_dir / "uploads" / ("f" * 64 + ".zip"))) == "f" * 64 + ".zip"


def test_a_run_on_an_upload_keeps_its_file_name_and_sha256_in_provenance(tmp_data_dir):
    from tlcore.config import RunConfig
    from tlcore.preview import ingest_upload
    from tlcore.rundata import prepare

    path, _ = ingest_upload(_zip(per_class=8, step=20), "pets.zip")
    prov = prepare(RunConfig(dataset=path, labels_per_class=1, val_per_class=1, test_per_class=2)).provenance()
    assert prov["source"]["title"] == "pets.zip (upload)"
    assert any(f["sha256"] == Path(path).stem for f in prov["source"]["files"])
