"""Every lab-zoo model reaches its model card's accuracy on its own test split, its
shipped weights are the ones the card describes, and its class count is stated once and
agrees everywhere it is used."""

from __future__ import annotations

import json

import pytest
import torch

from tlcore.data import DATASETS
from tlcore.models import BACKBONES
from tlcore.models.lab import LAB_SOURCES, WIDTHS, card_path, weights_path
from tlcore.models.pretrain import evaluate
from tlcore.paths import sha256_file

ZOO = list(LAB_SOURCES)


@pytest.mark.parametrize("name", ZOO)
def test_card_is_complete_and_weights_match(name):
    card = json.loads(card_path(name).read_text())
    for key in ("dataset", "data_provenance", "num_classes", "seed", "epochs", "test_accuracy", "test_images",
                "sha256", "licence"):
        assert key in card, key
    assert card["sha256"] == sha256_file(weights_path(name))
    assert weights_path(name).stat().st_size < 2.5e6  # "at most ~2 MB"


@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_reaches_its_card_accuracy(name):
    acc, card = evaluate(name)
    assert acc >= card["test_accuracy"] - 0.002, (acc, card["test_accuracy"])
    chance = 1 / len(card["classes"])
    assert acc > chance + 0.5  # and the card itself is no stub


def test_every_lab_backbone_has_a_source():
    lab = {b.name for b in BACKBONES if b.family == "lab_resnet"}
    assert lab == set(ZOO)


@pytest.mark.parametrize("name", ZOO)
def test_stated_class_count_matches_the_weights_head(name):
    """guards: LabSource.num_classes (a wrong count builds a head the shipped weights do
    not fit, or pretrains a head with the wrong number of outputs)."""
    src = LAB_SOURCES[name]
    head = torch.load(weights_path(name), map_location="cpu", weights_only=True)["head.weight"]
    card = json.loads(card_path(name).read_text())
    spec = BACKBONES.get(name)
    assert head.shape == (src.num_classes, WIDTHS[-1])
    assert card["num_classes"] == len(card["classes"]) == src.num_classes
    assert spec.weights[spec.default_weights].num_classes == src.num_classes
    assert DATASETS.get(src.dataset).num_classes == src.num_classes
    assert spec.build(None).head.out_features == src.num_classes


def test_pretrain_refuses_a_dataset_with_another_class_count(monkeypatch, tmp_path):
    """guards: pretrain's check (without it, weights whose head disagrees with the stated
    count would be written). Writes are sent to ``tmp_path`` and the training made tiny,
    so a missing check fails fast here and never touches the shipped files."""
    import dataclasses

    from tlcore.models import pretrain

    bad = dataclasses.replace(LAB_SOURCES["lab_fashion_a"], num_classes=10, max_train=32)
    monkeypatch.setitem(LAB_SOURCES, "lab_fashion_a", bad)
    monkeypatch.setattr(pretrain, "LAB_DIR", tmp_path)
    monkeypatch.setattr(pretrain, "weights_path", lambda name: tmp_path / f"{name}.pt")
    monkeypatch.setattr(pretrain, "card_path", lambda name: tmp_path / f"{name}.json")
    with pytest.raises(ValueError, match="states 10 classes but fashion_mnist_a has 5"):
        pretrain.pretrain("lab_fashion_a", epochs=1)
    assert not list(tmp_path.iterdir())
