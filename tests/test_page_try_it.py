"""The Try it page in AppTest on a store of tiny real runs (a classic comparison plus one
run stored the old way, without its model).

Oracles: the answers shown must be the ones the engine gives for the same bytes and the
same stored model (``tlcore.predict`` called directly), the default runs must be the
setup's classic comparison, and a bad file or an old run must each get one plain message
while the run selection survives.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from tests.page_helpers import open_page
from tlcore.compare import classic_comparison
from tlcore.config import RunConfig
from tlcore.runs import Store

PAGE = "app_pages/try_it.py"
BASE = RunConfig(backbone="lab_mnist", dataset="digits", labels_per_class=5, val_per_class=5,
                 test_per_class=20, epochs=2, batch_size=16)
OLD = BASE.replace(strategy="feature_extraction", seed=1)  # stored "before runs kept models"


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    from tlcore.jobs import execute

    root = tmp_path_factory.mktemp("try_runs")
    store = Store(root)
    for cfg in [*classic_comparison(BASE), OLD]:
        rid, _ = store.submit(cfg)
        execute(store, rid)
        assert store.get(rid).status == "done", store.get(rid).message
    rec = store.get(OLD.run_id(), history=False)
    (store.artifact_dir(rec.id) / "model.pt").unlink()
    prov = {k: v for k, v in rec.provenance.items() if k != "model"}
    store.finish(rec.id, "done", metrics=rec.metrics, seconds=rec.seconds, provenance=prov)
    return root


def trio() -> list[str]:
    return [c.run_id() for c in classic_comparison(BASE)]


def digit_png(index: int = 0) -> bytes:
    """A real test digit (scikit-learn's 8x8 digits at the lab's 32 px), as a PNG file."""
    from tlcore.data import load_domain

    ds = load_domain("digits", seed=0)
    img = ds.images[index].numpy()  # [C, H, W] uint8
    arr = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).resize((96, 96), Image.NEAREST).save(buf, format="PNG")
    return buf.getvalue()


def bomb_png(side: int = 30_000) -> bytes:
    """A PNG that declares ``side`` x ``side`` pixels (900 M) in a few hundred bytes: a
    decompression bomb, to be refused from its header before anything is decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit grey
    idat = zlib.compress(b"\0" * 4096, 9)  # the start of the first rows, all black
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def bars(at) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def open_try(root, monkeypatch, **params):
    at = open_page(root, monkeypatch, "app_pages/home.py", BASE)
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_default_runs_are_the_setups_classic_comparison(store_root, monkeypatch):
    at = open_try(store_root, monkeypatch)
    assert at.multiselect(key="try_runs_pick").value == trio()
    assert at.query_params["try_runs"] == ",".join(trio())
    assert at.query_params["try_input"] == "draw"
    assert any("Draw a digit" in i.value for i in at.info)  # nothing drawn yet in AppTest
    assert not bars(at)


def test_default_falls_back_to_the_newest_runs_with_a_model(store_root):
    from ui.try_view import default_runs

    recs = Store(store_root).list()
    assert default_runs(recs, BASE) == trio()
    other = BASE.replace(labels_per_class=3)  # a setup never run: the newest full trio instead
    assert default_runs(recs, other) == trio()
    no_trio = [r for r in recs if r.config.strategy != "scratch"]
    newest = [r.id for r in reversed(no_trio) if r.provenance.get("model")][:3]
    assert default_runs(no_trio, other) == newest and OLD.run_id() not in newest


def test_an_upload_is_answered_by_every_chosen_run(store_root, monkeypatch):
    from tlcore.predict import predict, prepare, read_image
    from tlcore.trained import load_trained

    at = open_try(store_root, monkeypatch, try_input="upload")
    assert at.get("segmented_control")[0].value == "upload"
    png = digit_png(3)
    at.file_uploader(key="try_upload").set_value(("three.png", png, "image/png"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    shown = bars(at)
    assert len(shown) == 9  # top 3 for each of the three runs
    store = Store(store_root)
    for i, rid in enumerate(trio()):
        model = load_trained(store, rid)
        expected = [f"{n}: {p:.1%}" for n, p in predict(model, prepare(model, read_image(png, "three.png")))]
        assert shown[3 * i: 3 * i + 3] == expected, rid
        probs = [float(re.search(r"([\d.]+)%$", t).group(1)) for t in expected]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 100.05
    assert len(at.get("image")) == 6  # what each model sees and its heat map
    assert len(at.get("download_button")) == 3  # the fitted picture per run, ready at once
    # ONNX and TorchScript per run: built only on a click (ui.downloads), then a download
    prepare = [b for b in at.button if b.label in ("Prepare ONNX", "Prepare TorchScript")]
    assert len(prepare) == 6


def test_the_fitted_picture_gives_the_same_answer_without_the_fitting(store_root):
    """The PNG offered beside each answer is the picture after fitting: fed through the
    network's plain preprocessing (what an exported model's card does) it must give the
    very answer the page shows."""
    import torch

    from tlcore.predict import predict, prepare, read_image
    from tlcore.trained import load_trained
    from ui.try_view import _png

    model = load_trained(Store(store_root), trio()[2])
    prepared = prepare(model, read_image(digit_png(3), "three.png"))
    png = _png(prepared.images[0])
    a = np.asarray(Image.open(io.BytesIO(png)))
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    probs = model.probabilities(torch.from_numpy(a.copy())[None])[0]
    top = predict(model, prepared, top=3)
    assert [model.class_names[int(i)] for i in probs.argsort(descending=True)[:3]] == [n for n, _ in top]
    assert [float(p) for p in probs.sort(descending=True).values[:3]] == pytest.approx([p for _, p in top], abs=1e-6)


@pytest.mark.parametrize("name, blob", [
    ("notes.png", b"this is a text file, not a picture"),
    ("cut.png", digit_png(0)[:60]),  # a PNG cut off in the middle
    ("bomb.png", bomb_png()),
])
def test_a_bad_upload_gets_one_message_and_keeps_the_runs(store_root, monkeypatch, name, blob):
    at = open_try(store_root, monkeypatch, try_input="upload")
    at.file_uploader(key="try_upload").set_value((name, blob, "image/png"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1 and "cannot be used as an image" in at.error[0].value
    assert not bars(at)
    assert at.multiselect(key="try_runs_pick").value == trio()


def test_an_old_run_without_a_model_says_so_and_can_be_rerun(store_root, monkeypatch):
    import ui.store

    queued = []
    monkeypatch.setattr(ui.store, "ensure_worker", lambda store: queued.append(store.root))  # no process
    old = OLD.run_id()
    at = open_try(store_root, monkeypatch, try_runs=f"{old},{trio()[1]},nosuchrun", try_input="upload")
    assert at.multiselect(key="try_runs_pick").value == [old, trio()[1]]
    assert any("nosuchrun" in w.value for w in at.warning)
    at.file_uploader(key="try_upload").set_value(("three.png", digit_png(3), "image/png"))
    at.run()
    assert any("before runs kept their models" in w.value and "Re-run" in w.value for w in at.warning)
    assert len(bars(at)) == 3  # the other run still answers
    at.button(key=f"try_rerun_{old}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    rec = Store(store_root).get(old, history=False)
    assert rec.status == "queued" and rec.config == OLD and queued
    assert at.multiselect(key="try_runs_pick").value == [old, trio()[1]]
    # trained again (here, in this process), the same run answers with its new model
    from tlcore.jobs import execute

    assert Store(store_root).claim(old)
    execute(Store(store_root), old)
    at.run()
    assert not at.exception and len(bars(at)) == 6


def test_no_runs_points_to_the_classic_comparison(tmp_path, monkeypatch):
    at = open_page(tmp_path / "empty", monkeypatch, PAGE)
    assert any("classic comparison on Home" in i.value for i in at.info)
    assert not at.get("multiselect")
