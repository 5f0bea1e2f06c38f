"""Every lab-zoo model reaches its model card's accuracy on its own test split, and its
shipped weights are the ones the card describes."""

from __future__ import annotations

import json

import pytest

from tlcore.models.lab import LAB_SOURCES, card_path, weights_path
from tlcore.models.pretrain import evaluate
from tlcore.paths import sha256_file

ZOO = list(LAB_SOURCES)


@pytest.mark.parametrize("name", ZOO)
def test_card_is_complete_and_weights_match(name):
    card = json.loads(card_path(name).read_text())
    for key in ("dataset", "data_provenance", "seed", "epochs", "test_accuracy", "test_images", "sha256", "licence"):
        assert key in card, key
    assert card["sha256"] == sha256_file(weights_path(name))
    assert weights_path(name).stat().st_size < 2.5e6  # "at most ~2 MB"


@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_reaches_its_card_accuracy(name):
    acc, card = evaluate(name)
    assert acc >= card["test_accuracy"] - 0.002, (acc, card["test_accuracy"])
    chance = 1 / len(card["classes"])
    assert acc > chance + 0.5  # and the card itself is no stub
