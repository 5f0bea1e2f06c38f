"""A budget that cannot fit fails before training, in the user's words: class names, the
largest budget that fits, never "at most 0"."""

from __future__ import annotations

import pytest

from tlcore.config import RunConfig
from tlcore.rundata import prepare


def test_too_many_labels_names_the_class_and_the_largest_budget():
    with pytest.raises(ValueError) as e:
        prepare(RunConfig(dataset="digits", labels_per_class=10_000, val_per_class=10, test_per_class=50))
    msg = str(e.value)
    assert "'8'" in msg and "174 images" in msg and "at most 114" in msg  # digits' smallest class


def test_nothing_left_for_training_says_what_to_change():
    with pytest.raises(ValueError) as e:
        prepare(RunConfig(dataset="digits", labels_per_class=1, val_per_class=10, test_per_class=170))
    msg = str(e.value)
    assert "no labels are left" in msg and "Hold out fewer" in msg
    assert "at most 0" not in msg and "class 0 " not in msg
