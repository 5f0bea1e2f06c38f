"""Every finished run keeps its model, and the model rebuilt from the store answers the
test images exactly as the run reported (the oracle is the run's own per-image record)."""

from __future__ import annotations

import pytest
import torch

from tests.engine_helpers import TINY
from tlcore.data import load_domain
from tlcore.jobs import execute
from tlcore.runs import Store
from tlcore.trained import NoStoredModel, load_trained

FAMILIES = {
    "scratch": {},
    "feature_extraction": {},
    "finetune_top": {"top_k": 2},
    "finetune_all": {},
    "lp_ft": {"probe_epochs": 1},
    "bitfit": {},
    "dann": {"target": "digits:rotate=2"},
    "transplant": {"extra": (("cut", 2.0), ("frozen_copy", 1.0))},
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return Store(tmp_path_factory.mktemp("trained"))


def _run(store: Store, strategy: str):
    cfg = TINY.replace(strategy=strategy, epochs=2, **FAMILIES[strategy])
    rid, _ = store.submit(cfg)
    execute(store, rid)
    rec = store.get(rid)
    assert rec.status == "done", rec.message
    return rid, rec


@pytest.mark.parametrize("strategy", list(FAMILIES))
def test_rebuilt_model_gives_the_reported_predictions(store, strategy):
    rid, rec = _run(store, strategy)
    arts = store.load_artifacts(rid)
    model = load_trained(store, rid)
    assert model.class_names == tuple(rec.metrics["class_names"])
    ds = load_domain(rec.config.dataset, seed=rec.config.seed)
    images = ds.images[arts["index_test"]]
    assert torch.equal(ds.labels[arts["index_test"]], arts["labels_test"])
    probs = model.probabilities(images)
    stored = arts["probs_test"].float()
    assert torch.equal(probs.argmax(1), arts["pred_test"])
    assert torch.allclose(probs, stored, atol=2e-3)  # float16 storage
    acc = float((probs.argmax(1) == arts["labels_test"]).float().mean())
    assert acc == pytest.approx(rec.metrics["test_accuracy"])
    if rec.config.target:
        tgt = load_domain(rec.config.target, seed=rec.config.seed)
        pt = model.probabilities(tgt.images[arts["index_target"]])
        assert torch.equal(pt.argmax(1), arts["pred_target"])
    info = rec.provenance["model"]
    assert info["bytes"] == (store.artifact_dir(rid) / info["file"]).stat().st_size
    assert len(info["sha256"]) == 64 and model.model_file["sha256"] == info["sha256"]


def test_model_files_keep_only_what_training_changed(store):
    fe = store.get(_run(store, "feature_extraction")[0], history=False)
    ft = store.get(_run(store, "finetune_all")[0], history=False)
    head_only = fe.provenance["model"]["bytes"]
    whole = ft.provenance["model"]["bytes"]
    assert head_only < 20_000  # a 128 x 10 linear head plus the file's own header
    assert 1_000_000 < whole < 1_500_000  # the lab net's ~307k float32 parameters and BN stats


def test_a_run_without_a_model_file_says_to_rerun(store):
    rid, _ = _run(store, "feature_extraction")
    (store.artifact_dir(rid) / "model.pt").unlink()
    with pytest.raises(NoStoredModel, match="Re-run"):
        load_trained(store, rid)
    with pytest.raises(NoStoredModel, match="no run"):
        load_trained(store, "0" * 16)


def test_deleting_a_run_deletes_its_model(store):
    rid, _ = _run(store, "finetune_top")
    assert store.has_model(rid)
    store.delete(rid)
    assert not store.has_model(rid)
