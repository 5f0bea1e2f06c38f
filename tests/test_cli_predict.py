"""``tlcore predict``: both output forms answer as ``tlcore.predict`` does, bad files get one
line each and exit code 1 without losing the others, and a run that cannot answer is one
line and exit code 2."""

from __future__ import annotations

import json

import pytest
from PIL import Image, ImageDraw

from tests.engine_helpers import TINY
from tlcore.cli import main
from tlcore.jobs import execute
from tlcore.predict import predict, prepare, read_image
from tlcore.runs import Store
from tlcore.trained import load_trained

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(store folder, run id) of a small finished run on scikit-learn's 8x8 digits."""
    root = tmp_path_factory.mktemp("cli_predict")
    store = Store(root)
    rid, _ = store.submit(TINY.replace(strategy="feature_extraction"))
    execute(store, rid)
    return root, rid


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("images")
    one = Image.new("L", (200, 240), 255)
    ImageDraw.Draw(one).line([(100, 30), (100, 210)], fill=0, width=18)
    zero = Image.new("L", (200, 240), 0)
    ImageDraw.Draw(zero).ellipse([40, 30, 160, 210], outline=255, width=16)
    paths = {"one": d / "one.png", "zero": d / "zero.jpg", "bad": d / "notes.png"}
    one.save(paths["one"])
    zero.save(paths["zero"], quality=95)
    paths["bad"].write_bytes(b"this is a text file with a .png name")
    return {k: str(v) for k, v in paths.items()}


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["predict", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_answers_as_the_engine_does(capsys, run, files):
    root, rid = run
    code, out, err = _cli(capsys, rid, files["one"], files["zero"], "--store", str(root), "--json",
                          "--top", "4")
    assert code == 0 and err == ""
    rows = json.loads(out)
    assert [r["file"] for r in rows] == [files["one"], files["zero"]]
    model = load_trained(Store(root), rid)
    for row in rows:
        with open(row["file"], "rb") as f:
            prepared = prepare(model, read_image(f.read(), row["file"]))
        want = predict(model, prepared, top=4)
        assert [(p["class"], p["probability"]) for p in row["predictions"]] == [
            (c, pytest.approx(p, abs=1e-6)) for c, p in want]
        assert row["notes"] == list(prepared.notes)
        probs = [p["probability"] for p in row["predictions"]]
        assert probs == sorted(probs, reverse=True) and len(probs) == 4


def test_text_output_lists_classes_probabilities_and_notes(capsys, run, files):
    root, rid = run
    code, out, err = _cli(capsys, rid, files["one"], "--store", str(root))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == files["one"]
    classes = [ln.split() for ln in lines[1:4]]
    assert all(len(c) == 2 and c[1].endswith("%") for c in classes)
    model = load_trained(Store(root), rid)
    with open(files["one"], "rb") as f:
        best = predict(model, prepare(model, read_image(f.read())), top=1)[0]
    assert classes[0] == [best[0], f"{best[1]:.2%}"]
    assert any(ln.startswith("  - inverted") for ln in lines)  # the notes, in plain words


def test_a_bad_file_is_one_line_and_the_others_still_answer(capsys, run, files, tmp_path):
    root, rid = run
    missing = str(tmp_path / "nope.png")
    code, out, err = _cli(capsys, rid, files["bad"], files["one"], missing, "--store", str(root))
    assert code == 1
    assert err.splitlines() == [
        f"tlcore predict: {files['bad']} is not a PNG, JPEG, GIF, BMP, WebP, TIFF or PPM image",
        f"tlcore predict: {missing}: no such file"]
    assert out.splitlines()[0] == files["one"]
    code, out, err = _cli(capsys, rid, files["bad"], files["zero"], "--store", str(root), "--json")
    rows = json.loads(out)
    assert code == 1 and "not a PNG" in rows[0]["error"] and "predictions" not in rows[0]
    assert rows[1]["file"] == files["zero"] and len(rows[1]["predictions"]) == 3


def test_unknown_run_or_no_model_is_one_line_and_exit_2(capsys, run, files, tmp_path):
    root, rid = run
    code, out, err = _cli(capsys, "0" * 16, files["one"], "--store", str(root))
    assert code == 2 and out == "" and err == f"tlcore predict: no run {'0' * 16} in this store\n"
    # a run stored before runs kept their models
    store = Store(tmp_path / "old")
    old, _ = store.submit(TINY.replace(strategy="feature_extraction", seed=1, epochs=1))
    execute(store, old)
    (store.artifact_dir(old) / "model.pt").unlink()
    code, out, err = _cli(capsys, old, files["one"], "--store", str(tmp_path / "old"))
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and "Re-run it" in err
    code, _, err = _cli(capsys, rid, files["one"], "--store", str(root), "--top", "0")
    assert code == 2 and "--top must be at least 1" in err


def test_the_command_is_listed_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "tlcore predict RUN_ID IMAGE..." in capsys.readouterr().out
