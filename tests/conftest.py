"""Shared test set-up: keep run stores in temp dirs; reuse the user dataset cache."""

from __future__ import annotations

import os

import pytest
import torch

# AppTests run app.py in this process: skip its background UMAP compile (the browser
# test's server turns it back on).
os.environ.setdefault("TLAB_WARMUP", "0")

# Two cores in CI: more threads only adds contention.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def tmp_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TLAB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"
