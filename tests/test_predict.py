"""Predicting with a stored run: reading any picture safely, fitting it to the run's training
images from measured statistics, and answering as the run itself did on its test images."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageOps

from tests.engine_helpers import TINY
from tlcore.data import folder, load_domain
from tlcore.jobs import execute
from tlcore.models.lab import LAB_PREPROCESS
from tlcore.predict import (
    BadImage,
    Prepared,
    domain_look,
    predict,
    prepare,
    read_image,
    training_domain,
)
from tlcore.runs import Store
from tlcore.trained import TrainedModel, load_trained

SMALL = TINY.replace(strategy="feature_extraction", labels_per_class=10, test_per_class=20,
                     epochs=3)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: single images, one thread


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return Store(tmp_path_factory.mktemp("predict"))


def _model(store: Store, **changes) -> TrainedModel:
    rid, _ = store.submit(SMALL.replace(**changes))
    execute(store, rid)
    assert store.get(rid, history=False).status == "done"
    return load_trained(store, rid)


@pytest.fixture(scope="module")
def mnist(store) -> TrainedModel:
    return _model(store, dataset="mnist")


@pytest.fixture(scope="module")
def mnist_m(store) -> TrainedModel:
    return _model(store, dataset="mnist_m")


def _stand_in(dataset: str, **changes) -> TrainedModel:
    """A model whose config names ``dataset``: prepare reads only the config and preprocess."""
    cfg = SMALL.replace(dataset=dataset, **changes)
    return TrainedModel("stand-in", cfg, None, LAB_PREPROCESS, tuple("0123456789"), {}, {})


def _png(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _seven(dark_on_light: bool, size=(400, 300), at=(60, 40), width=12) -> Image.Image:
    """A pen-drawn 7 off the centre of a larger page."""
    bg, ink = (255, 0) if dark_on_light else (0, 255)
    im = Image.new("L", size, bg)
    x, y = at
    ImageDraw.Draw(im).line([(x, y), (x + 90, y), (x + 40, y + 150)], fill=ink, width=width)
    return im


def _object_box(a: np.ndarray, bg: float) -> tuple[int, int, float, float]:
    """Bounding-box height, width and centre of mass (row, col) of what differs from ``bg``."""
    d = np.abs(a.astype(np.float32) - bg)
    m = d > 0.5 * d.max()
    ys, xs = np.nonzero(m)
    yy, xx = np.indices(a.shape)
    return (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1,
            float((d * yy).sum() / d.sum()), float((d * xx).sum() / d.sum()))


# -- preprocessing choices on real cases ---------------------------------------------------
def test_dark_drawing_for_mnist_is_inverted_centred_and_read(mnist):
    p = prepare(mnist, read_image(_png(_seven(dark_on_light=True)), "seven.png"))
    assert p.images.dtype == torch.uint8 and p.images.shape == (1, 1, 28, 28)  # MNIST's own format
    assert p.seen.dtype == np.uint8 and p.seen.shape == (32, 32, 3)  # the lab net's input
    assert any(n.startswith("inverted: the training images are light on dark") for n in p.notes)
    assert any(n.startswith("cropped to the object") for n in p.notes)
    a = p.images[0, 0].numpy()
    assert a[0].max() == 0 and a[:, [0, -1]].max() == 0  # black paper, like MNIST's
    h, w, cy, cx = _object_box(a, 0)
    look = domain_look("mnist", 0)
    assert max(h, w) == pytest.approx(look.extent * 28, abs=1.5)  # the digits' 20 px of 28
    assert (cy, cx) == pytest.approx((13.5, 13.5), abs=1.0)  # centred by its centre of mass
    assert predict(mnist, p)[0][0] == "7"


def test_light_drawing_for_mnist_is_not_inverted_but_fits_the_same(mnist):
    dark = prepare(mnist, read_image(_png(_seven(dark_on_light=True))))
    light = prepare(mnist, read_image(_png(_seven(dark_on_light=False))))
    assert not any(n.startswith("inverted") for n in light.notes)
    assert any(n.startswith("cropped to the object") for n in light.notes)
    diff = (dark.images.int() - light.images.int()).abs()
    assert diff.max() <= 2  # the same drawing in either polarity reaches the model the same
    assert predict(mnist, light)[0][0] == "7"


def _width(a: np.ndarray) -> float:
    """Mean stroke width: 2 x area / perimeter of the half-maximum mask, in px."""
    m = np.pad(a > 0.5 * a.max(), 1)
    edges = (m[1:] != m[:-1]).sum() + (m[:, 1:] != m[:, :-1]).sum()
    return 2 * m.sum() / edges


def test_a_fine_pen_is_thickened_to_the_training_strokes(mnist):
    look = domain_look("mnist", 0)
    thin = prepare(mnist, read_image(_png(_seven(True, width=3))))
    assert any(n.startswith("strokes thickened") for n in thin.notes)
    assert look.stroke_thin <= _width(thin.images[0, 0].numpy()) <= 1.5 * look.stroke
    bold = prepare(mnist, read_image(_png(_seven(True, width=24))))  # a marker: left alone
    assert not any(n.startswith("strokes thickened") for n in bold.notes)
    assert predict(mnist, thin)[0][0] == predict(mnist, bold)[0][0] == "7"


def test_polarity_comes_from_the_images_not_the_name():
    # every MNIST image inverted: the same dataset name, now dark on light
    inv = _stand_in("mnist:invert=5")
    assert domain_look("mnist:invert=5", 0).polarity == "dark"
    light = prepare(inv, read_image(_png(_seven(dark_on_light=False))))
    dark = prepare(inv, read_image(_png(_seven(dark_on_light=True))))
    assert any(n.startswith("inverted: the training images are dark on light") for n in light.notes)
    assert not any(n.startswith("inverted") for n in dark.notes)
    assert light.images[0, 0, 0].min() == 255  # white paper, like the inverted digits


def test_colour_photo_for_mnist_m_is_neither_inverted_nor_centred(mnist_m):
    from sklearn.datasets import load_sample_image

    photo = Image.fromarray(load_sample_image("flower.jpg"))  # 640x427
    p = prepare(mnist_m, read_image(_png(photo, "JPEG", quality=95), "flower.jpg"))
    assert any("photo-like" in n for n in p.notes)
    assert not any(n.startswith(("inverted", "cropped")) for n in p.notes)
    # the oracle: a centre crop to a square, as the folder loader makes training images
    decoded = read_image(_png(photo, "JPEG", quality=95))
    want = np.asarray(ImageOps.fit(decoded, (28, 28), method=Image.Resampling.BICUBIC))
    assert p.images.shape == (1, 3, 28, 28)
    assert np.array_equal(p.images[0].permute(1, 2, 0).numpy(), want)


def test_measured_statistics_of_a_made_domain(tmp_path):
    # a folder domain whose answer is known: a white 16 px square in a black 32 px image,
    # its centre at (12, 20)
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            im = Image.new("L", (32, 32), 0)
            ImageDraw.Draw(im).rectangle([12, 4, 27, 19], fill=255 - 10 * i)
            (tmp_path / cls / f"{i}.png").write_bytes(_png(im))
    look = domain_look(str(tmp_path), 0)
    assert (look.height, look.width, look.channels, look.measured) == (32, 32, 3, 6)
    assert look.objects and look.polarity == "light"
    assert look.extent == pytest.approx(0.5) and look.background == 0
    assert look.centre == pytest.approx((11.5 / 32, 19.5 / 32), abs=0.01)
    p = prepare(_stand_in(str(tmp_path)), read_image(_png(_seven(dark_on_light=True))))
    h, w, cy, cx = _object_box(p.images[0].float().mean(0).numpy(), 0)
    assert max(h, w) == pytest.approx(16, abs=1)
    assert (cy, cx) == pytest.approx((11.5, 19.5), abs=1.0)


def test_training_images_that_cannot_be_read_say_so(tmp_path):
    p = prepare(_stand_in(str(tmp_path / "gone")), read_image(_png(_seven(True))))
    assert any("cannot be read here" in n for n in p.notes)
    assert p.images.shape == (1, 3, 32, 32)


def test_the_target_oracle_is_fitted_to_its_target():
    oracle = _stand_in("mnist", strategy="target_oracle", target="mnist_m")
    assert training_domain(oracle) == "mnist_m"
    assert training_domain(_stand_in("mnist", strategy="dann", target="mnist_m")) == "mnist"


def test_blank_picture_is_answered_and_said_to_be_blank(mnist):
    p = prepare(mnist, read_image(_png(Image.new("L", (200, 200), 255))))
    assert any("looks blank" in n for n in p.notes)
    assert len(predict(mnist, p, top=10)) == 10


def test_prepare_is_deterministic(mnist):
    data = _png(_seven(True, size=(1200, 900), at=(700, 500), width=30))
    a, b = (prepare(mnist, read_image(data)) for _ in range(2))
    assert torch.equal(a.images, b.images) and a.notes == b.notes


# -- the run answers its own test images as it reported ------------------------------------
def test_stored_test_images_through_the_pipeline_agree_with_the_run(store, mnist):
    arts = store.load_artifacts(mnist.run_id)
    ds = load_domain(mnist.config.dataset, seed=mnist.config.seed)
    agree = 0
    for row, want in zip(arts["index_test"].tolist(), arts["pred_test"].tolist(), strict=True):
        data = _png(Image.fromarray(ds.images[row, 0].numpy(), mode="L"))
        top = predict(mnist, prepare(mnist, read_image(data, f"{row}.png")), top=3)
        assert top[0][1] >= top[1][1] >= top[2][1] and sum(p for _, p in top) <= 1 + 1e-6
        agree += top[0][0] == mnist.class_names[want]
    assert agree >= 0.9 * len(arts["pred_test"]), f"{agree} of {len(arts['pred_test'])}"


def test_predict_matches_the_models_probabilities(mnist):
    p = prepare(mnist, read_image(_png(_seven(True))))
    probs = mnist.probabilities(p.images)[0]
    top = predict(mnist, p, top=2)
    assert [n for n, _ in top] == [mnist.class_names[i] for i in probs.argsort(descending=True)[:2]]
    assert top[0][1] == pytest.approx(float(probs.max()))
    with pytest.raises(ValueError, match="at least 1"):
        predict(mnist, p, top=0)
    assert isinstance(p, Prepared)


# -- any picture in, or one clear sentence --------------------------------------------------
def _forged_png(w: int, h: int) -> bytes:
    """A PNG header declaring ``w`` x ``h`` with a valid CRC (and one real pixel of data)."""
    png = bytearray(_png(Image.new("L", (1, 1))))
    png[16:24] = w.to_bytes(4, "big") + h.to_bytes(4, "big")
    png[29:33] = zlib.crc32(bytes(png[12:29])).to_bytes(4, "big")
    return bytes(png)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "is empty"),
    (b"just some text, not a picture", "is not a PNG, JPEG"),
    (_png(Image.new("RGB", (8, 8)), "PCX"), "is not a PNG, JPEG"),  # outside the allow-list
    (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", "is not a PNG, JPEG"),
    (_png(Image.new("RGB", (64, 64), (9, 9, 9)))[:80], "damaged or truncated"),
    (_png(Image.new("RGB", (64, 64), (9, 9, 9)), "JPEG")[:300], "damaged or truncated"),
    (_forged_png(100_000, 100_000), "too many pixels"),  # a decompression bomb's header
    (_forged_png(9_000, 9_000), "too many pixels"),  # over our own limit, under Pillow's
    (_forged_png(0, 0), "begins like a PNG"),  # 0x0
])
def test_hostile_files_are_one_clear_sentence(data, message):
    with pytest.raises(BadImage, match=message) as e:
        read_image(data, "upload.png")
    assert str(e.value).startswith("upload.png ") and "\n" not in str(e.value)


def test_oversized_file_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(folder, "MAX_FILE_BYTES", 100)
    with pytest.raises(BadImage, match="larger than"):
        read_image(_png(Image.effect_noise((64, 64), 50)))


def test_modes_and_formats_in():
    grey16 = Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)  # I;16
    im = read_image(_png(grey16))
    assert im.mode == "L" and 0 < np.asarray(im).mean() < 255  # scaled, not clipped to white
    pal = Image.new("RGB", (20, 10), (200, 30, 30)).quantize(4)
    bmp = _png(Image.new("RGB", (20, 10), (200, 30, 30)), "BMP")
    for data in (_png(pal, "GIF"), _png(pal), bmp):
        im = read_image(data)
        assert im.mode == "RGB" and im.size == (20, 10)
        assert np.abs(np.asarray(im)[5, 5].astype(int) - (200, 30, 30)).max() <= 8


def test_exif_rotated_photo_is_upright():
    im = Image.new("RGB", (60, 40), (255, 255, 255))
    ImageDraw.Draw(im).rectangle([0, 0, 9, 9], fill=(0, 0, 0))  # top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = read_image(_png(im, "JPEG", exif=exif, quality=95))
    assert out.size == (40, 60)
    a = np.asarray(out.convert("L"))
    assert a[:10, -10:].mean() < 40 and a[:10, :10].mean() > 200  # the black corner: now top right


@pytest.mark.parametrize(("stroke", "filled_with"), [(255, "black"), (0, "white")])
def test_transparent_canvas_keeps_its_drawing_visible(mnist, stroke, filled_with):
    im = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    ink = (stroke, stroke, stroke, 255)
    ImageDraw.Draw(im).line([(60, 60), (200, 60), (120, 240)], fill=ink, width=20)
    out = read_image(_png(im), "drawing.png")
    assert out.mode == "RGB"
    assert any(f"filled with {filled_with}" in n for n in out.info["tlab_notes"])
    p = prepare(mnist, out)
    assert any(f"filled with {filled_with}" in n for n in p.notes)
    assert p.images.max() > 200 and p.images[0, 0, 0].max() == 0  # visible strokes on MNIST black


def _paper_photo(digit: int, font_path: str, rng: np.random.Generator) -> bytes:
    """A font digit written dark on unevenly lit paper, somewhere in a 640x480 JPEG."""
    from PIL import ImageFilter, ImageFont

    yy, xx = np.mgrid[0:480, 0:640]
    paper = 200 + 30 * xx / 640 - 20 * yy / 480
    im = Image.fromarray(paper.astype(np.uint8))
    font = ImageFont.truetype(font_path, int(rng.integers(120, 260)))
    ImageDraw.Draw(im).text((int(rng.integers(40, 300)), int(rng.integers(10, 150))), str(digit),
                            font=font, fill=int(rng.integers(20, 70)))
    a = np.asarray(im, dtype=np.float32) + rng.normal(0, 6, (480, 640))
    im = Image.fromarray(a.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1))
    return _png(im.convert("RGB"), "JPEG", quality=80)


def test_fitting_is_what_lets_an_mnist_run_read_photos_of_paper(mnist):
    # the known answer is the digit written; a plain resize of the same photos is the baseline
    from tlcore.data.fonts import digit_fonts

    fonts = digit_fonts()
    if not fonts:
        pytest.skip("no digit fonts on this machine (Debian fonts-* packages)")
    rng = np.random.default_rng(0)
    fitted = plain = n = 0
    for font in fonts[:: max(1, len(fonts) // 6)][:6]:
        for digit in range(10):
            im = read_image(_paper_photo(digit, font.path, rng))
            fitted += predict(mnist, prepare(mnist, im), top=1)[0][0] == str(digit)
            small = np.array(im.convert("L").resize((28, 28), Image.Resampling.BILINEAR))
            probs = mnist.probabilities(torch.from_numpy(small)[None, None])
            plain += mnist.class_names[int(probs.argmax())] == str(digit)
            n += 1
    assert fitted >= 0.7 * n, f"fitted {fitted} of {n}"  # 50 of 60 when written
    assert plain <= 0.3 * n, f"plain resize {plain} of {n}"  # 6 of 60: a small dark digit, lost
