"""The Data page (AppTest) and the engine calls behind it (``tlcore.preview``)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.page_helpers import APP
from tlcore.preview import (
    UploadRejected,
    ingest_upload,
    label_budget,
    list_uploads,
    preview_domain,
    tile,
)


def _png(colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (12, 12), colour).save(buf, format="PNG")
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


SHAPES = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
GOOD_ZIP = _zip({**{f"shapes/{c}/{i}.png": _png(rgb) for c, rgb in SHAPES.items() for i in range(70)},
                 "shapes/blue/broken.png": b"not a png"})


def _data_page(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page("app_pages/data.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def setup(at: AppTest):
    return at.session_state["tl_setup"]


# --- engine ----------------------------------------------------------------------------

def test_preview_grid_counts_and_shift():
    plain = preview_domain("digits", seed=0, per_class=3, cell=16)
    assert plain.class_names == tuple(str(i) for i in range(10))
    assert sum(plain.counts) == 1797 and plain.shape == (1, 8, 8)
    img = plain.montage.image
    assert img.dtype == np.uint8 and img.shape == (10 * 18 + 2, 3 * 18 + 2, 3)
    again = preview_domain("digits", seed=0, per_class=3, cell=16)
    assert (again.montage.image == img).all()  # same seed, same samples
    assert not (preview_domain("digits", seed=1, per_class=3, cell=16).montage.image == img).all()
    coloured = preview_domain("digits:colour=5", seed=0, per_class=3, cell=16)
    assert coloured.counts == plain.counts and coloured.shape == (3, 8, 8)
    assert coloured.title.endswith("colour 5")
    # grey samples have equal channels; tinted ones do not
    assert (img[..., 0] == img[..., 1]).all() and not (coloured.montage.image[..., 0] ==
                                                      coloured.montage.image[..., 1]).all()


def test_tile_pads_short_rows():
    rows = [torch.full((2, 1, 4, 4), 9, dtype=torch.uint8), torch.zeros((0, 1, 4, 4), dtype=torch.uint8)]
    grid = tile(rows, cell=8, per_class=3)
    assert grid.shape == (2 * 10 + 2, 3 * 10 + 2, 3)
    assert (grid[2:10, 2:10] == 9).all()  # nearest-neighbour enlargement keeps the value
    assert (grid[12:20, 2:10] == 235).all()  # a missing sample is a grey cell


def test_label_budget_explains_what_does_not_fit():
    counts, names = [60, 80, 100], ["a", "b", "c"]
    ok = label_budget(counts, names, 20, val_per_class=5, test_per_class=10)
    assert ok.fits and ok.max_labels == 45 and ok.train_images == 60
    assert label_budget(counts, names, None, 5, 10).train_images == 240 - 45
    big = label_budget(counts, names, 46, 5, 10)
    assert not big.fits and "at most 45" in big.message and "'a'" in big.message
    none_left = label_budget(counts, names, None, 10, 50)
    assert not none_left.fits and "no labels are left" in none_left.message


def test_ingest_upload_keeps_good_zips_and_rejects_bad_ones(tmp_data_dir):
    path, info = ingest_upload(GOOD_ZIP, "shapes.zip")
    assert Path(path).name == f"{info['sha256']}.zip" and Path(path).parent == tmp_data_dir / "uploads"
    assert info["classes"] == ["blue", "green", "red"] and info["images"] == 210
    assert any(s.endswith("broken.png") for s in info["skipped"])
    assert ingest_upload(GOOD_ZIP, "again.zip")[0] == path  # same bytes, same file
    with pytest.raises(UploadRejected, match="not a zip"):
        ingest_upload(b"plain text", "notes.zip")
    with pytest.raises(UploadRejected, match="one class"):
        ingest_upload(_zip({f"cats/{i}.png": _png((9, 9, 9)) for i in range(3)}), "cats.zip")
    with pytest.raises(UploadRejected, match="no readable images"):
        ingest_upload(_zip({"a/readme.txt": b"hello"}), "empty.zip")
    assert list_uploads() == [path]
    assert sorted(p.name for p in (tmp_data_dir / "uploads").iterdir()) == sorted(
        [Path(path).name, Path(path).with_suffix(".json").name])  # nothing left of the rejects


# --- page ------------------------------------------------------------------------------

def test_target_domain_with_a_shift(tmp_data_dir):
    at = _data_page()
    assert setup(at).target is None
    at.toggle(key="data_tgt_on").set_value(True).run()
    assert setup(at).target == "mnist"
    assert any("target is the source itself" in i.value for i in at.info)
    at.multiselect(key="data_tgt_shifts").select("rotate").run()
    at.slider(key="data_tgt_sev_rotate").set_value(5).run()
    assert setup(at).target == "mnist:rotate=5"
    at.slider(key="data_tgt_sev_rotate").set_value(3).run()
    assert not at.exception
    assert setup(at).target == "mnist:rotate=3"
    assert at.query_params["target"] in ("mnist:rotate=3", ["mnist:rotate=3"])  # the link holds it
    # one sample grid and one class-count chart per domain
    assert len(at.get("plotly_chart")) == 4
    at.toggle(key="data_tgt_on").set_value(False).run()
    assert setup(at).target is None


def test_source_and_its_shift(tmp_data_dir):
    at = _data_page()
    at.selectbox(key="data_src_ds").select("fashion_mnist").run()
    at.multiselect(key="data_src_shifts").select("noise").run()
    at.slider(key="data_src_sev_noise").set_value(2).run()
    assert not at.exception
    assert setup(at).dataset == "fashion_mnist:noise=2"


def test_label_budget_slider_and_the_largest_budget(tmp_data_dir):
    at = _data_page({"dataset": "digits"})
    slider = at.select_slider(key="data_budget")
    assert "114" in slider.options and "200" not in slider.options  # 174 - 10 val - 50 test
    assert any("At most **114**" in c.value for c in at.caption)
    slider.set_value("all").run()
    assert setup(at).labels_per_class is None
    at.select_slider(key="data_budget").set_value(20).run()
    assert setup(at).labels_per_class == 20


def test_too_large_budget_is_explained_not_a_crash(tmp_data_dir):
    at = _data_page({"dataset": "digits", "labels_per_class": "500"})
    assert not at.exception
    assert setup(at).labels_per_class == 500
    assert any("at most 114" in w.value for w in at.warning)
    at.button(key="data_fit_budget").click().run()
    assert setup(at).labels_per_class == 114 and not at.warning


def test_upload_becomes_the_source(tmp_data_dir):
    at = _data_page()
    at.file_uploader(key="data_upload").set_value(("shapes.zip", GOOD_ZIP, "application/zip")).run()
    assert not at.exception, [e.value for e in at.exception]
    path = setup(at).dataset
    assert Path(path).parent == tmp_data_dir / "uploads"
    assert any("210 images in 3 classes" in s.value and "1 file skipped" in s.value for s in at.success)
    # 70 images per class leave 10 labels after 10 validation + 50 test images
    assert any("At most **10**" in c.value for c in at.caption)
    assert at.selectbox(key="data_src_ds").value == path


def test_bad_uploads_change_nothing(tmp_data_dir):
    at = _data_page()
    before = setup(at)
    at.file_uploader(key="data_upload").set_value(("oops.zip", b"\x00" * 64, "application/zip")).run()
    assert not at.exception
    assert setup(at) == before
    assert any("nothing changed" in e.value and "not a zip" in e.value for e in at.error)
    one = _zip({f"only/{i}.png": _png((1, 2, 3)) for i in range(5)})
    at.file_uploader(key="data_upload").set_value(("one.zip", one, "application/zip")).run()
    assert setup(at) == before
    assert any("one class" in e.value for e in at.error)
    assert not list((tmp_data_dir / "uploads").glob("*.zip"))


def test_plain_reruns_do_not_rebuild_previews(tmp_data_dir, monkeypatch):
    """Samples come from ``st.cache_data`` keyed by (domain text, seed): a rerun that
    changes nothing must not load or shift images again."""
    import streamlit as st

    import tlcore.preview

    calls: list[str] = []
    real = tlcore.preview.preview_domain

    def counting(text, **kw):
        calls.append(text)
        return real(text, **kw)

    st.cache_data.clear()
    monkeypatch.setattr(tlcore.preview, "preview_domain", counting)
    at = _data_page({"dataset": "digits"})
    assert calls == ["digits"]
    at.run()
    at.run()
    assert calls == ["digits"]
    at.multiselect(key="data_src_shifts").select("blur").run()
    assert calls == ["digits", "digits:blur=3"]


def test_target_with_other_classes_is_flagged(tmp_data_dir):
    at = _data_page({"target": "fashion_mnist_a"})
    assert not at.exception
    (err,) = [e.value for e in at.error]  # the Train and Domain adaptation pages' words
    assert "(10 classes) and the target" in err and "(5) do not share their classes" in err
    assert "only the source has '0'" in err


def test_unavailable_dataset_is_listed_with_its_reason(tmp_data_dir, monkeypatch):
    import dataclasses

    from tlcore.data import DATASETS, Availability

    gone = dataclasses.replace(DATASETS.get("animals"),
                               check=lambda: Availability(False, "install the animal-mnist package"))
    monkeypatch.setitem(DATASETS._entries, "animals", gone)
    at = _data_page()
    shown = at.selectbox(key="data_src_ds").options  # the labels the user sees
    assert "MNIST" in shown and "Animal silhouettes" not in shown
    assert any("install the animal-mnist package" in c.value for c in at.caption)


def test_class_count_title_at_budget_all_says_what_a_run_holds_out():
    from tlcore import plots

    title = plots.class_counts(["a", "b"], [100, 200], 60, all_labels=True).layout.title.text
    assert "holds out 60 of each and trains on the rest" in title
    assert "takes 70 of each" in plots.class_counts(["a", "b"], [100, 200], 70).layout.title.text
