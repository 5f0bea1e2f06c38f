"""Presets (``tlcore.presets``): the change list against hand-made cases, and the rules
that keep a preset's result consistent (a left-over target with other classes is cleared,
the strategy changes only when named and never stays without its target)."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from tlcore import presets
from tlcore.config import RunConfig
from tlcore.transfer import adapt_study as da

NINE = [f"c{i}" for i in range(9)]


def nine_class_zip() -> bytes:
    """Nine classes of five plain 8x8 PNGs, each class its own grey level."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, name in enumerate(NINE):
            for j in range(5):
                img = io.BytesIO()
                Image.new("L", (8, 8), 20 * i + j).save(img, format="PNG")
                zf.writestr(f"nine/{name}/{j}.png", img.getvalue())
    return buf.getvalue()


@pytest.fixture
def upload(tmp_data_dir) -> str:
    from tlcore.preview import ingest_upload

    path, info = ingest_upload(nine_class_zip(), "nine.zip")
    assert info["classes"] == NINE
    return path


def rows(changes) -> list[tuple[str, str, str]]:
    return [(c.field, c.before, c.after) for c in changes]


def test_every_setup_field_has_a_title():
    assert set(presets.TITLES) == set(presets.FIELDS)
    assert len(set(presets.TITLES.values())) == len(presets.TITLES)  # no two read the same


def test_the_adaptation_preset_over_an_upload_lists_exactly_what_it_changes(upload):
    current = RunConfig(dataset=upload, strategy="bitfit", seed=3)
    preset = presets.setting(da.DEFAULT)
    assert rows(presets.changes(current, preset)) == [
        ("source dataset", "nine.zip", "MNIST"),  # the upload by its own file name, not its sha256 path
        ("target domain", "none", "MNIST-M"),
        ("labels per class", "10", "100"),
        ("epochs", "15", "8"),
        ("batch size", "16", "64"),
        ("learning rate", "0.01", "0.001"),
        ("backbone LR multiplier", "0.1", "1"),
    ]
    new = presets.apply(current, preset)
    assert new == da.DEFAULT.replace(strategy="bitfit", seed=3)  # seed and strategy stay the user's
    assert presets.changes(new, preset) == []  # applying twice changes nothing more
    assert presets.summary(presets.changes(current, preset)) == (
        "source dataset, target domain, labels per class and 4 more")


def test_a_left_over_target_with_other_classes_is_cleared(upload):
    pair = RunConfig(dataset="mnist", target="mnist_m:rotate=2")
    out = presets.changes(pair, {"dataset": upload})
    assert rows(out) == [("source dataset", "MNIST", "nine.zip"),
                         ("target domain", "MNIST-M, rotate 2", "none")]
    assert out[0].why == "" and out[1].why == "it has 10 classes and the new source 9"
    assert presets.apply(pair, {"dataset": "fashion_mnist_a"}).target is None  # 5 classes vs 10
    kept = presets.apply(pair, {"dataset": "fashion_mnist"})  # 10 classes too: the target stays
    assert kept.target == "mnist_m:rotate=2" and kept.dataset == "fashion_mnist"
    # a preset that names the target is taken at its word
    assert presets.apply(pair, {"dataset": upload, "target": "mnist"}).target == "mnist"


def test_the_strategy_changes_only_when_named_and_never_loses_its_target(upload):
    dann = RunConfig(dataset="mnist", target="mnist_m", strategy="dann")
    assert presets.apply(dann, {"epochs": 3}).strategy == "dann"
    out = presets.changes(dann, {"target": None})
    assert rows(out) == [("target domain", "MNIST-M", "none"),
                         ("strategy", "DANN", "Feature extraction")]
    assert out[1].why.endswith("needs a target domain")
    # clearing a left-over target takes the strategy that needed it along
    chained = presets.apply(dann, {"dataset": upload})
    assert chained.target is None and chained.strategy == RunConfig().strategy
    with pytest.raises(ValueError, match="needs a target domain"):
        presets.apply(dann, {"target": None, "strategy": "coral"})
    assert presets.apply(RunConfig(), {"strategy": "finetune_all"}).strategy == "finetune_all"


def test_a_link_preset_resets_what_it_leaves_out_but_the_strategy(tmp_data_dir):
    mine = RunConfig(dataset="digits", weight_decay=0.5, epochs=2, strategy="lp_ft", seed=4)
    preset, notices = presets.from_link({"dataset": "mnist", "labels_per_class": "50"})
    assert notices == []
    new = presets.apply(mine, preset)
    assert new == RunConfig(labels_per_class=50, strategy="lp_ft")  # like opening the link, strategy kept
    named, _ = presets.from_link({"dataset": "mnist", "target": "mnist_m", "strategy": "dann"})
    assert presets.apply(mine, named) == RunConfig(target="mnist_m", strategy="dann")
    bad, notices = presets.from_link({"epochs": "lots"})
    assert presets.apply(mine, bad).epochs == RunConfig().epochs and "epochs" in notices[0]


def test_bad_presets_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="unknown: colour"):
        presets.changes(RunConfig(), {"colour": "red"})
    with pytest.raises(ValueError, match="epochs"):
        presets.apply(RunConfig(), {"epochs": 0})


def test_values_read_as_words():
    d = presets.describe
    assert d("labels_per_class", None) == "all" and d("labels_per_class", 2000) == "2,000"
    assert d("weights", "none") == "random (no pretraining)"
    assert d("augment", True) == "on" and d("target", None) == "none"
    assert d("dataset", "mnist:rotate=3,noise=1") == "MNIST, rotate 3, noise 1"
    assert d("extra", (("dann_weight", 3.0),)) == "DANN strength (λ scale) 3" and d("lr_mults", ()) == "none"
    assert d("strategy", "no_such_strategy") == "no_such_strategy"  # an old store's name as it is
    assert str(presets.Change("epochs", "15", "8", "epochs")) == "epochs: 15 → 8"
