"""Datasets made in the app (``tlcore.data.made``): drafts on disk, samples, refusals with
reasons, and the build that turns a draft into a dataset exactly like an uploaded zip."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from tlcore.data import load_domain, made
from tlcore.preview import label_budget, list_uploads, upload_info


def _png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode).save(buf, format="PNG")
    return buf.getvalue()


def _coloured(rgb, seed: int, h: int = 40, w: int = 60) -> bytes:
    """A flat colour with a few white specks (seeded), so every sample differs."""
    rng = np.random.default_rng(seed)
    a = np.zeros((h, w, 3), np.uint8) + np.array(rgb, np.uint8)
    a[rng.integers(0, h, 12), rng.integers(0, w, 12)] = 255
    return _png(a)


@pytest.fixture
def draft(tmp_data_dir):
    d = made.create_draft("Colours")
    d = made.add_class(d.id, "red")
    return made.add_class(d.id, "blue/green")


def _fill(d, red: int = 6, blue: int = 5):
    reds = [(f"r{i}.png", _coloured((220, 10, 10), i)) for i in range(red)]
    blues = [(f"b{i}.png", _coloured((10, 10, 220), i)) for i in range(blue)]
    made.add_samples(d.id, "c1", reds, "upload")
    return made.add_samples(d.id, "c2", blues, "camera")[0]


@pytest.mark.parametrize("name, folder", [
    ("cat", "cat"), ("  thumbs   up ", "thumbs up"), ("a/b\\c:d", "a_b_c_d"), (".hidden", "hidden"),
    ("dots...", "dots"), ("CON", "CON_"), ("nul.txt", "nul.txt_"), ("tab\there", "tab here"),
    ("bell\x07", "bell_"), ("cafe\u0301", "caf\u00e9"), ("x" * 80, "x" * made.MAX_NAME),
    ("...", ""),
])
def test_folder_name(name, folder):
    assert made.folder_name(name) == folder


def test_classes_refuse_empty_and_clashing_names(draft):
    assert [(c.id, c.name, c.folder) for c in draft.classes] == [
        ("c1", "red", "red"), ("c2", "blue/green", "blue_green")]
    for bad, why in [("   ", "give the class a name"), ("red", "already a class called 'red'"),
                     ("RED", "would be the same folder"),
                     ("blue_green", "would be the same folder"),
                     ("...", "cannot name a folder"), ("y" * 61, "at most 60")]:
        with pytest.raises(made.DraftError, match=why):
            made.add_class(draft.id, bad)
    assert len(made.load_draft(draft.id).classes) == 2  # nothing added by a refusal
    d = made.rename_class(draft.id, "c1", "Red")  # a class may change its own case
    assert d.cls("c1").name == "Red"
    with pytest.raises(made.DraftError, match="same folder"):
        made.rename_class(draft.id, "c1", "blue:green")


def test_sample_is_on_disk_at_once_centre_cropped(draft):
    a = np.zeros((100, 200, 3), np.uint8)
    a[:, :100] = (255, 0, 0)
    a[:, 100:] = (0, 0, 255)
    a[0, 0] = (0, 255, 0)  # cropped away
    d, added, skipped = made.add_samples(draft.id, "c1", [("halves.png", _png(a))], "upload")
    assert added == ["halves.png"] and skipped == []
    # a fresh read from disk, as after a reload
    c = made.load_draft(draft.id).cls("c1")
    assert c.count == 1 and c.sources() == {"camera": 0, "drawing": 0, "upload": 1}
    stored = np.asarray(Image.open(d.sample_path("c1", c.samples[0])))
    assert stored.shape == (made.SAMPLE_SIDE, made.SAMPLE_SIDE, 3)
    assert tuple(stored[64, 5]) == (255, 0, 0) and tuple(stored[64, 122]) == (0, 0, 255)
    assert not (stored == (0, 255, 0)).all(axis=2).any()  # the centre square only


def test_transparent_drawing_goes_onto_white_and_an_empty_one_is_refused(draft):
    rgba = np.zeros((64, 64, 4), np.uint8)  # transparent black, as a canvas exports it
    _, added, skipped = made.add_samples(draft.id, "c1", [("blank", _png(rgba, "RGBA"))], "drawing")
    assert added == []
    assert skipped == [("blank", "the drawing is empty: draw something on the canvas first")]
    rgba[20:40, 30:34] = (0, 0, 0, 255)
    d, added, _ = made.add_samples(draft.id, "c1", [("stroke", _png(rgba, "RGBA"))], "drawing")
    px = np.asarray(Image.open(d.sample_path("c1", d.cls("c1").samples[0])))
    assert tuple(px[0, 0]) == (255, 255, 255) and tuple(px[60, 64]) == (0, 0, 0)
    # a flat colour is a fine upload (a swatch), only an empty drawing is refused
    flat = np.full((20, 20, 3), 90, np.uint8)
    assert made.add_samples(draft.id, "c2", [("grey", _png(flat))], "upload")[1] == ["grey"]


def test_bad_and_duplicate_samples_are_listed_and_nothing_is_written(draft):
    good = _coloured((200, 0, 0), 0)
    _, added, skipped = made.add_samples(draft.id, "c1", [
        ("notes.txt", b"hello"), ("a.png", good), ("again.png", good), ("half.png", good[:60])],
        "upload")
    assert added == ["a.png"]
    reasons = dict(skipped)
    assert "not a PNG, JPEG" in reasons["notes.txt"]
    assert reasons["again.png"] == "the same image is already in this class"
    assert "half.png" in reasons
    assert made.load_draft(draft.id).cls("c1").count == 1
    on_disk = sorted(p.name for p in (draft.path / "c1").iterdir())
    assert on_disk == list(made.load_draft(draft.id).cls("c1").samples)
    with pytest.raises(ValueError, match="source"):
        made.add_samples(draft.id, "c1", [("a", good)], "scanner")


def test_delete_sample_and_class_and_hostile_names(draft):
    d = _fill(draft)
    gone = d.cls("c1").samples[2]
    d = made.delete_sample(d.id, "c1", gone)
    assert d.cls("c1").count == 5 and gone not in d.cls("c1").samples
    assert not (d.path / "c1" / gone).exists()
    for bad in ("../draft.json", "x.png", "/etc/passwd"):
        with pytest.raises(made.DraftError, match="not a sample"):
            made.delete_sample(d.id, "c1", bad)
    for bad in ("../x", "..", "abc", "ABCDEF012345"):
        with pytest.raises(made.DraftError, match="not a dataset id"):
            made.load_draft(bad)
    with pytest.raises(made.DraftError, match="no class"):
        made.add_samples(d.id, "c9", [("a", _coloured((1, 2, 3), 0))], "upload")
    d = made.remove_class(d.id, "c2")
    assert [c.id for c in d.classes] == ["c1"] and not (d.path / "c2").exists()
    assert made.add_class(d.id, "green").classes[-1].id == "c3"  # ids are never reused


def test_problems_say_what_is_missing(tmp_data_dir):
    d = made.create_draft("Empty")
    assert d.problems() == [
        "Add at least 2 classes: a classifier needs two or more (you have none yet)."]
    d = made.add_class(d.id, "cat")
    assert d.problems() == [
        "Add at least 2 classes: a classifier needs two or more (you have 'cat').",
        "'cat' has no images yet: add at least 5."]
    d = made.add_class(d.id, "dog")
    made.add_samples(d.id, "c1", [(str(i), _coloured((9, 9, 9), i)) for i in range(5)], "upload")
    d = made.add_samples(d.id, "c2", [("1", _coloured((9, 9, 9), 1))], "upload")[0]
    assert d.problems() == ["'dog' has 1 image: add 4 more (at least 5 per class)."]
    assert not d.ready
    with pytest.raises(made.DraftError, match="'dog' has 1 image"):
        made.build(d.id)
    with pytest.raises(made.DraftError, match="'dog' has 1 image"):
        made.export_zip(d)
    assert list_uploads() == []  # a refused build writes no dataset


def test_build_makes_an_upload_with_made_in_the_app_provenance(draft):
    d = _fill(draft)
    path, info = made.build(d.id)
    assert path in list_uploads()
    side = upload_info(path)
    assert side["made"]["made"] == made.MADE_IN and side["made"]["created"] == d.created
    assert side["made"]["classes"] == [
        {"name": "red", "folder": "red", "images": 6,
         "from": {"camera": 0, "drawing": 0, "upload": 6}},
        {"name": "blue/green", "folder": "blue_green", "images": 5,
         "from": {"camera": 5, "drawing": 0, "upload": 0}}]
    assert info["classes"] == ["blue_green", "red"] and info["counts"] == [5, 6]
    ds = load_domain(path)  # what every page and every run reads
    assert ds.class_names == ("blue_green", "red") and ds.class_counts() == [5, 6]
    assert ds.images.shape == (11, 3, 32, 32) and ds.meta["skipped"] == []
    means = [ds.images[ds.labels == k].float().mean(dim=(0, 2, 3)) for k in range(2)]
    assert means[0][2] > 150 > means[0][0] and means[1][0] > 150 > means[1][2]  # blue, then red
    # the zip is the export: same bytes, the manifest inside, class folders at the top
    data = made.export_zip(made.load_draft(d.id))
    assert hashlib.sha256(data).hexdigest() == info["sha256"] == ds.provenance.files[0][1]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert json.loads(zf.read(made.MANIFEST))["images"] == 11
    assert sum(n.startswith("red/") for n in names) == 6
    assert sum(n.startswith("blue_green/") for n in names) == 5
    assert made.zip_filename(d) == "Colours.zip"
    # unchanged: the same dataset again; changed: a new one, the old one kept for its runs
    assert made.build(d.id)[0] == path and len(made.load_draft(d.id).builds) == 1
    made.add_samples(d.id, "c2", [("b9", _coloured((10, 10, 220), 9))], "upload")
    made.rename_draft(d.id, "Colours 2")  # `updated` has a one-second grain: the zip must differ
    path2, info2 = made.build(d.id)
    assert path2 != path and info2["counts"] == [6, 6] and set(list_uploads()) == {path, path2}


def test_drafts_survive_a_reload_and_damage(tmp_data_dir):
    a = made.create_draft("First")
    b = made.create_draft("Second")
    made.add_class(a.id, "x")  # changed last: listed first
    assert [d.name for d in made.list_drafts()][0] == "First"
    (b.path / "draft.json").write_text("{not json")
    assert [d.id for d in made.list_drafts()] == [a.id]
    with pytest.raises(made.DraftError, match="cannot be read"):
        made.load_draft(b.id)
    made.delete_draft(a.id)
    with pytest.raises(made.DraftError, match="no longer exists"):
        made.add_class(a.id, "y")
    with pytest.raises(made.DraftError, match="give the dataset a name"):
        made.create_draft("  ")


def test_two_writers_at_once_lose_nothing(tmp_data_dir):
    d = made.create_draft("Busy")
    errors = []

    def add(prefix):
        try:
            for i in range(8):
                made.add_class(d.id, f"{prefix}{i}")
        except Exception as e:  # noqa: BLE001 reported below
            errors.append(e)

    threads = [threading.Thread(target=add, args=(p,)) for p in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    d = made.load_draft(d.id)
    assert sorted(c.name for c in d.classes) == sorted(f"{p}{i}" for p in "ab" for i in range(8))
    assert len({c.id for c in d.classes}) == 16


@pytest.mark.parametrize("n, split", [(3, (1, 1, 1)), (5, (3, 1, 1)), (10, (6, 2, 2)),
                                      (50, (30, 10, 10))])
def test_fitting_split(n, split):
    assert made.fitting_split(n) == split


def test_fitting_split_always_fits_the_budget_rule():
    for n in range(3, 300):
        labels, val, test = made.fitting_split(n)
        assert label_budget([n, n + 7], ["a", "b"], labels, val, test).fits
    with pytest.raises(ValueError):
        made.fitting_split(2)


@pytest.mark.slow
def test_a_run_trains_on_a_made_dataset(draft):
    """The whole path: made here, built, trained by the worker, its zip's sha256 recorded."""
    from tlcore.config import RunConfig
    from tlcore.jobs import execute
    from tlcore.runs import Store

    path, info = made.build(_fill(draft, red=8, blue=8).id)
    labels, val, test = made.fitting_split(8)
    cfg = RunConfig(backbone="lab_synth_digits", dataset=path, labels_per_class=labels,
                    val_per_class=val, test_per_class=test, epochs=2, batch_size=8)
    store = Store(draft.path.parent.parent / "store")
    rid, _ = store.submit(cfg)
    execute(store, rid)
    rec = store.get(rid)
    assert rec.status == "done", rec.message
    assert rec.provenance["data"]["source"]["files"] == [{"path": path, "sha256": info["sha256"]}]
    assert rec.provenance["data"]["source"]["test"] == 2 * test
