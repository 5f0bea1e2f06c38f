"""Source -> target pairs adaptation cannot run on are refused before training, in words
that say what is wrong (tlcore.data.pairs), and a user's own folders get defaults that say
themselves (tlcore.folder_defaults): checked on small zips written here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.upload_helpers import image_bytes, write_zip
from tlcore.config import RunConfig
from tlcore.data import load_domain
from tlcore.data.pairs import check_config, check_pair, is_grey


def _zip(path, classes, n=8, grey=False, seed=0):
    """``n`` 8x8 images per class, each class its own colour (or grey level)."""
    rng = np.random.default_rng(seed)
    files = {}
    for c in classes:
        base = rng.integers(0, 255, 3)
        for i in range(n):
            rgb = tuple(int(v) for v in np.clip(base + rng.integers(-20, 20, 3), 0, 255))
            files[f"{c}/{i}.png"] = image_bytes((rgb[0],) * 3 if grey else rgb)
    return str(write_zip(path, files))


NINE = [f"class_{i}" for i in range(9)]


def _cfg(src, tgt, **kw):
    return RunConfig(backbone="lab_mnist", dataset=src, target=tgt, strategy="dann",
                     **{"val_per_class": 1, "test_per_class": 2, "labels_per_class": 2, **kw})


def test_same_classes_pass_and_colour_is_a_note_not_an_error(tmp_path):
    src = _zip(tmp_path / "s.zip", NINE, grey=True)
    tgt = _zip(tmp_path / "t.zip", NINE, seed=1)
    check = check_config(_cfg(src, tgt))
    assert check.ok, check.errors
    assert len(check.notes) == 1 and "s.zip" in check.notes[0] and "is grey" in check.notes[0]
    assert "colour is a cue the source never taught" in check.notes[0]
    assert check_config(_cfg(tgt, tgt)).notes == ()  # the same domain: nothing to say


def test_registered_pairs_keep_working():
    """The classic pair passes (with its grey -> colour note); digits against clothes do not."""
    check = check_config(RunConfig(dataset="mnist", target="mnist_m", strategy="dann"))
    assert check.ok and "colour" in check.notes[0]
    assert check_config(RunConfig(dataset="digits", target="digits:rotate=3", strategy="dann")).notes == ()
    bad = check_config(RunConfig(dataset="mnist", target="fashion_mnist", strategy="dann"))
    assert not bad.ok and "'Trouser'" in bad.errors[0] and "only the source has '0'" in bad.errors[0]


def test_classes_the_source_lacks_are_named_both_ways(tmp_path):
    src = _zip(tmp_path / "s.zip", NINE)
    tgt = _zip(tmp_path / "t.zip", [*NINE[:8], "wolf"])  # nine classes each: counts alone pass
    (err,) = check_config(_cfg(src, tgt)).errors
    assert "only the source has 'class_8'" in err and "only the target has 'wolf'" in err
    assert "rename, add or remove class folders" in err


def test_names_match_across_unicode_forms_and_case(tmp_path):
    src = _zip(tmp_path / "s.zip", ["Cafe\u0301", "Dog"])  # decomposed é, as macOS zips write it
    tgt = _zip(tmp_path / "t.zip", ["caf\u00e9", "dog"])
    assert check_config(_cfg(src, tgt)).ok


def test_a_one_class_target_is_refused(tmp_path):
    src = _zip(tmp_path / "s.zip", NINE)
    tgt = _zip(tmp_path / "t.zip", ["class_0"])
    (err,) = check_config(_cfg(src, tgt)).errors
    assert "has one class ('class_0')" in err and "has 9" in err


def test_a_target_with_no_images_left_is_refused(tmp_path):
    src = _zip(tmp_path / "s.zip", NINE)
    tgt = str(write_zip(tmp_path / "t.zip", {f"{c}/notes.txt": b"not an image" for c in NINE}))
    (err,) = check_config(_cfg(src, tgt)).errors
    assert err.startswith("The target t.zip cannot be used:") and "no readable images" in err


def test_a_target_class_too_small_for_its_test_images_is_refused(tmp_path):
    src = _zip(tmp_path / "s.zip", NINE)
    tgt = _zip(tmp_path / "t.zip", NINE, n=2)  # 2 images, 2 of them wanted for the test
    (err,) = check_config(_cfg(src, tgt)).errors
    assert "too few images in 9 classes" in err and "'class_0' (2)" in err and "--test-per-class" in err


def test_is_grey_sees_grey_rgb_files_as_grey(tmp_path):
    assert is_grey(load_domain(_zip(tmp_path / "g.zip", NINE, grey=True)))
    assert not is_grey(load_domain(_zip(tmp_path / "c.zip", NINE)))
    assert is_grey(load_domain("mnist")) and not is_grey(load_domain("mnist_m"))


def test_the_trainer_refuses_with_the_same_words(tmp_path):
    from tlcore.rundata import prepare

    src = _zip(tmp_path / "s.zip", NINE)
    tgt = _zip(tmp_path / "t.zip", [*NINE[:8], "wolf"])
    want = check_config(_cfg(src, tgt)).errors[0]
    with pytest.raises(ValueError) as e:
        prepare(_cfg(src, tgt))
    assert str(e.value) == want
    s, t = load_domain(src), load_domain(tgt)
    assert check_pair(s, t, "a", "b", 2).errors[0].startswith("The source a (9 classes) and the target b (9)")


def test_cli_refuses_before_queueing_and_says_its_defaults(tmp_path, capsys):
    from tlcore.cli import main
    from tlcore.runs import Store

    store = tmp_path / "store"
    src = _zip(tmp_path / "s.zip", NINE, n=12)
    bad = _zip(tmp_path / "t.zip", [*NINE[:8], "wolf"], n=12)
    args = ["run", "--store", str(store), "--backbone", "lab_mnist", "--dataset", src, "--epochs", "1",
            "--val-per-class", "1", "--test-per-class", "2", "--strategy", "dann", "--quiet"]
    assert main([*args, "--target", bad]) == 2
    err = capsys.readouterr().err
    assert "only the target has 'wolf'" in err and not Store(store).list()  # nothing queued
    good = _zip(tmp_path / "t2.zip", NINE, n=12, seed=3)
    assert main([*args, "--target", good, "--json"]) == 0
    out, err = capsys.readouterr()
    assert "all 81 labelled source images train" in err  # 9 x (12 - 1 - 2): no budget was given
    assert "Input 32 px: lab_mnist's size for a laptop CPU." in err
    assert json.loads(out)["config"]["labels_per_class"] is None
    # lab_mnist's body is stem, block1-3: the top half (2) adapts, and it is said
    assert "The top 2 of 4 groups (block2, block3) adapt; stem, block1 stay as pretrained" in err
    assert json.loads(out)["config"]["extra"] == [["adapt_top", 2.0]]
    (first,) = Store(store).list()
    epoch = Store(store).get(first.id).history[0]
    assert epoch["trainable"] == "block2, block3, head" and epoch["fast_path_cut"] == 2
    assert main([*args, "--target", good, "--labels-per-class", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["labels_per_class"] == 3  # a budget given stays
    assert main([*args, "--target", good, "--labels-per-class", "3", "--set", "adapt_top=0", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["config"]["extra"] == [] and "Every group trains (adapt_top=0)" in err  # given: stays


def test_folder_defaults_leave_registered_data_alone():
    from tlcore.folder_defaults import Chosen, folder_defaults

    cfg = RunConfig(dataset="mnist", target="mnist_m", strategy="dann")
    assert folder_defaults(cfg, budget_given=False) == Chosen(cfg, ())
