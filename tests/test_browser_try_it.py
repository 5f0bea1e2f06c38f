"""Try it in a real browser: three runs of a classic comparison (trained here, small) answer
a digit drawn on the canvas with the mouse, then a photo from Chromium's fake camera.

The oracle for the drawing: the PNG the canvas holds is read back from the page and given
to the engine directly; the page must show exactly the engine's probabilities for it.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import urlencode

import pytest

from tests.browser import FAKE_CAMERA, browser_page, shot, streamlit_server, wait_idle
from tlcore.compare import classic_comparison
from tlcore.config import RunConfig
from tlcore.urlstate import config_to_params

pytestmark = pytest.mark.slow

# font digits -> real MNIST with 5 labels per class: the classic comparison, small
BASE = RunConfig(backbone="lab_synth_digits", dataset="mnist", labels_per_class=5, val_per_class=5,
                 test_per_class=20, epochs=3)
TITLES = ("From scratch", "Feature extraction", "Fine-tune all")
PERCENT = re.compile(r"^(.+): (\d+\.\d)%$")


def _train(data_dir) -> list[str]:
    from tlcore.jobs import execute
    from tlcore.runs import Store

    store = Store(data_dir)
    ids = []
    for cfg in classic_comparison(BASE):
        rid, _ = store.submit(cfg)
        execute(store, rid)
        assert store.get(rid).status == "done", store.get(rid).message
        ids.append(rid)
    return ids


def _bars(page) -> list[tuple[str, float]]:
    texts = page.locator('[data-testid="stProgress"]').all_inner_texts()
    return [(m.group(1), float(m.group(2))) for t in texts if (m := PERCENT.match(t.strip()))]


def _wait_for_answers(page, n_runs: int = 3) -> None:
    page.wait_for_function(
        """n => [...document.querySelectorAll('[data-testid="stProgress"]')]
                 .filter(e => /: \\d+\\.\\d%$/.test(e.innerText.trim())).length >= 3 * n
               && [...document.querySelectorAll('[data-testid="stImage"] img')]
                 .filter(i => i.complete && i.naturalWidth > 0).length >= 2 * n""",
        arg=n_runs, timeout=120_000)
    wait_idle(page)


def _draw_seven(page) -> None:
    canvas = page.locator("canvas.upper-canvas")
    canvas.wait_for(timeout=60_000)
    box = canvas.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    strokes = [[(0.25, 0.22), (0.75, 0.22)], [(0.75, 0.22), (0.42, 0.82)]]  # a 7: bar, then slant
    for stroke in strokes:
        page.mouse.move(x + w * stroke[0][0], y + h * stroke[0][1])
        page.mouse.down()
        for (ax, ay), (bx, by) in zip(stroke, stroke[1:], strict=False):
            for i in range(1, 13):
                t = i / 12
                page.mouse.move(x + w * (ax + (bx - ax) * t), y + h * (ay + (by - ay) * t))
        page.mouse.up()
        page.wait_for_timeout(600)


def _canvas_png(page) -> bytes:
    """The drawing as the canvas sends it: the component's drawing layer (it paints the
    background colour too), read back from the page."""
    url = page.locator("canvas.dc-canvas.lower-canvas").evaluate("c => c.toDataURL('image/png')")
    return base64.b64decode(url.split(",", 1)[1])


def _check_onnx_download(page, data_dir, rid: str, png: bytes, shown: list) -> None:
    """The ONNX button of the fine-tuned run gives a zip whose network, run in onnxruntime
    on the same prepared drawing, ranks the same top 3 with the same probabilities."""
    import io
    import zipfile

    import numpy as np
    import onnxruntime as ort

    from tlcore.predict import prepare, read_image
    from tlcore.runs import Store
    from tlcore.trained import load_trained

    page.get_by_role("button", name="Prepare ONNX").nth(2).click()  # built on the server, then offered
    with page.expect_download(timeout=180_000) as info:
        # only the third run's is built, so it is the one plain "ONNX" button
        page.get_by_role("button", name="ONNX", exact=True).click(timeout=180_000)
    blob = open(info.value.path(), "rb").read()
    assert info.value.suggested_filename == f"transfer-lab-{rid}-onnx.zip"
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert sorted(zf.namelist()) == ["model.onnx", "model_card.json"]
        onnx_model = zf.read("model.onnx")
    model = load_trained(Store(data_dir), rid)
    x = model.preprocess(prepare(model, read_image(png, "x.png")).images).numpy()
    sess = ort.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    logits = sess.run(None, {sess.get_inputs()[0].name: x})[0][0]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    top = np.argsort(-p)[:3]
    assert [model.class_names[i] for i in top] == [n for n, _ in shown]
    assert np.allclose([p[i] * 100 for i in top], [v for _, v in shown], atol=0.06)  # shown to 0.1


def _engine_answers(data_dir, ids, png: bytes) -> list[tuple[str, float]]:
    from tlcore.predict import predict, prepare, read_image
    from tlcore.runs import Store
    from tlcore.trained import load_trained

    out = []
    for rid in ids:
        model = load_trained(Store(data_dir), rid)
        out += [(n, round(p * 100, 1)) for n, p in predict(model, prepare(model, read_image(png, "x.png")))]
    return out


def test_draw_then_camera_three_models_answer(tmp_path):
    data = tmp_path / "data"
    ids = _train(data)
    query = urlencode(config_to_params(BASE))
    with streamlit_server(data) as url, browser_page(height=1000, extra_args=FAKE_CAMERA) as page:
        page.goto(f"{url}/try_it?{query}")
        page.get_by_role("heading", name="Try it").wait_for(timeout=60_000)
        wait_idle(page)
        assert not page.get_by_test_id("stException").count()
        assert f"try_runs={'%2C'.join(ids)}" in page.url or f"try_runs={','.join(ids)}" in page.url

        _draw_seven(page)
        _wait_for_answers(page)
        assert not page.get_by_test_id("stException").count()
        body = page.inner_text("body")
        assert all(t in body for t in TITLES), body[:2000]
        assert body.count("where it looked for") == 3
        shown = _bars(page)
        assert len(shown) == 9
        # the engine, given the canvas's own PNG, gives exactly the numbers shown
        png = _canvas_png(page)
        assert shown == _engine_answers(data, ids, png)
        shot(page, "try_it_draw")
        _check_onnx_download(page, data, ids[2], png, shown[6:9])

        page.get_by_role("button", name=re.compile(r"Clear$")).click()  # a fresh canvas: no answers left
        page.get_by_text("Draw a digit on the canvas").wait_for(timeout=60_000)
        wait_idle(page)
        assert not _bars(page)

        page.get_by_text("black on white", exact=True).click()  # the other ink: the input is inverted
        wait_idle(page)
        _draw_seven(page)
        _wait_for_answers(page)
        assert "inverted: the training images are light on dark" in page.inner_text("body")
        assert _bars(page) == _engine_answers(data, ids, _canvas_png(page))

        page.get_by_text("Camera", exact=True).click()  # the input choice (a segmented control)
        wait_idle(page)
        assert "try_input=camera" in page.url
        take = page.get_by_role("button", name=re.compile("take photo", re.I))
        take.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)  # let the fake camera deliver frames
        take.click()
        _wait_for_answers(page)
        assert not page.get_by_test_id("stException").count()
        assert len(_bars(page)) == 9
        wait_idle(page)
        shot(page, "try_it_camera")

