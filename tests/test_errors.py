"""tlcore.errors on hand-made answers (the oracle is worked out by hand in each test), plus
one real tiny run whose stored answers must rebuild the run's own confusion matrix."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from tests.engine_helpers import TINY
from tlcore.errors import (
    Answers,
    all_answers,
    answers,
    caption,
    domain_text,
    human_bytes,
    model_size,
    most_confused,
    pictures_of,
    requeue,
)
from tlcore.plots import add_cell_targets

NAMES = ["cat", "dog", "owl"]
# six test images: labels, the run's probabilities (rows sum to 1), and their dataset rows
LABELS = [0, 0, 1, 1, 2, 0]
PROBS = [[0.70, 0.20, 0.10],  # 0: cat, right (0.70)
         [0.10, 0.85, 0.05],  # 1: cat -> dog, sure (0.85), p_true 0.10
         [0.30, 0.60, 0.10],  # 2: dog, right (0.60): a close call
         [0.05, 0.15, 0.80],  # 3: dog -> owl (0.80), p_true 0.15
         [0.02, 0.03, 0.95],  # 4: owl, right (0.95)
         [0.40, 0.55, 0.05]]  # 5: cat -> dog, unsure (0.55), p_true 0.40
INDEX = [40, 11, 7, 3, 25, 18]


def hand() -> Answers:
    probs = torch.tensor(PROBS)
    arts = {"probs_test": probs.half(), "pred_test": probs.argmax(1),
            "labels_test": torch.tensor(LABELS), "index_test": torch.tensor(INDEX)}
    a = answers(arts, "test")
    assert a is not None
    return a


def test_confusion_counts_by_hand():
    assert hand().confusion(3).tolist() == [[1, 2, 0], [0, 1, 1], [0, 0, 1]]


def test_mistake_cell_lists_the_most_confident_first():
    a = hand()
    assert a.cell(0, 1).tolist() == [1, 5]  # 0.85 before 0.55
    assert a.cell(1, 2).tolist() == [3]
    assert a.cell(2, 0).tolist() == []


def test_right_cell_lists_the_closest_calls_first():
    a = hand()
    a2 = Answers("test", np.array([[0.9, 0.1], [0.6, 0.4], [0.75, 0.25]], np.float32),
                 np.array([0, 0, 0]), np.array([0, 0, 0]), np.array([0, 1, 2]))
    assert a2.cell(0, 0).tolist() == [1, 2, 0]  # 0.60, 0.75, 0.90
    assert a.cell(1, 1).tolist() == [2]


def test_top_losses_order_by_loss_of_the_true_class():
    a = hand()
    # mistakes: row 1 (p_true 0.10, loss 2.30), row 3 (0.15, 1.90), row 5 (0.40, 0.92)
    assert a.mistakes().tolist() == [1, 3, 5]
    assert a.mistakes(2).tolist() == [1, 3]
    np.testing.assert_allclose(a.loss[[1, 3, 5]], -np.log([0.10, 0.15, 0.40]), rtol=1e-3)


def test_top_losses_break_ties_by_the_wrong_answers_probability():
    # rows 0 and 1 both gave the true class 0 (a float16 underflow): equal loss, so the surer
    # mistake comes first; row 2 gave its true class 0.3, a smaller loss, so it comes last
    a = Answers("test", np.array([[0.0, 0.6, 0.4], [0.0, 0.99, 0.01], [0.7, 0.0, 0.3]], np.float32),
                np.array([1, 1, 0]), np.array([0, 0, 2]), np.array([0, 1, 2]))
    assert np.isfinite(a.loss).all() and a.loss[0] == a.loss[1]
    assert a.mistakes().tolist() == [1, 0, 2]


def test_most_confused_picks_the_biggest_off_diagonal_cell():
    assert most_confused(np.array([[5, 1, 3], [0, 9, 3], [2, 0, 4]])) == (0, 2)  # first of the 3s
    assert most_confused(np.array([[5, 0], [0, 9]])) is None


def test_captions_name_both_classes_and_both_probabilities():
    a = hand()
    nb = "\u00a0"  # no-break spaces inside each half: a narrow caption wraps before the arrow
    assert caption(NAMES, a, 1) == f"true{nb}cat{nb}(10%) →{nb}dog{nb}(85%)"
    assert caption(NAMES, a, 4) == f"owl:{nb}right,{nb}95%"


def test_pictures_follow_the_stored_rows_and_refuse_a_changed_dataset():
    a = hand()
    images = torch.arange(50, dtype=torch.uint8).view(50, 1, 1, 1).expand(50, 1, 2, 2)
    got = pictures_of(images, a, np.array([1, 3]))
    assert got.shape == (2, 1, 2, 2) and got[:, 0, 0, 0].tolist() == [11, 3]
    with pytest.raises(ValueError, match="changed since the run"):
        pictures_of(images[:20], a, np.array([0]))  # row 40 is gone


def test_old_runs_have_no_answers():
    assert answers({"labels_test": torch.tensor([0])}, "test") is None
    assert all_answers({}) == {}


def test_domain_text_by_split():
    cfg = TINY.replace(target="digits:rotate=2")
    assert domain_text(cfg, "test") == "digits" and domain_text(cfg, "target") == "digits:rotate=2"
    with pytest.raises(ValueError, match="no target"):
        domain_text(TINY, "target")


def test_cell_targets_carry_each_cells_class_indices():
    cm = [[1, 2, 0], [0, 1, 1], [0, 0, 1]]
    heat = go.Figure(go.Heatmap(z=cm, x=NAMES, y=NAMES))
    fig = go.Figure(add_cell_targets(heat, NAMES, cm))  # a valid figure once validated
    dots = fig.data[1]
    assert len(fig.data) == 2 and len(dots.x) == 9 and len(heat.data) == 1  # input unchanged
    i = 1 * 3 + 2  # true dog, predicted owl
    assert (dots.y[i], dots.x[i]) == ("dog", "owl") and list(dots.customdata[i]) == [1, 2, 1]
    assert fig.layout.clickmode == "event+select"
    assert list(fig.layout.yaxis.range) == [2.5, -0.5]  # row 0 on top, cells fill the plot


def test_model_size_says_none_for_old_runs_and_nothing_for_unfinished_ones():
    from tlcore.runs import RunRecord

    def rec(status, prov):
        return RunRecord("x", TINY, status, 0, 0, 0, "", {}, prov, None, None)

    assert model_size(rec("done", {"model": {"bytes": 5_300}})) == "5.3 KB"
    assert model_size(rec("done", {})) == "none (old run)"
    assert model_size(rec("running", {})) == ""


def test_human_bytes():
    assert [human_bytes(n) for n in (512, 5_300, 1_218_000, 2.5e9, None)] == \
        ["512 B", "5.3 KB", "1.2 MB", "2.5 GB", ""]


def test_a_real_run_stores_answers_that_rebuild_its_confusion(tmp_path):
    from tlcore.data import load_domain
    from tlcore.jobs import execute
    from tlcore.runs import Store

    store = Store(tmp_path)
    cfg = TINY.replace(strategy="feature_extraction", epochs=1)
    rid, _ = store.submit(cfg)
    execute(store, rid)
    rec = store.get(rid)
    assert rec.status == "done", rec.message
    a = all_answers(store.load_artifacts(rid))["test"]
    assert a.confusion(10).tolist() == rec.metrics["confusion"]
    ds = load_domain(cfg.dataset, seed=cfg.seed)
    assert (ds.labels[torch.from_numpy(a.index)].numpy() == a.labels).all()
    # requeue: a done run is queued again under its id (Store.submit alone would not)
    assert store.submit(cfg) == (rid, False)
    assert requeue(store, cfg) == rid and store.get(rid).status == "queued"
    assert store.load_artifacts(rid) == {}
