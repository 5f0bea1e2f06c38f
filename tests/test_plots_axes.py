"""Learning curves against epochs tick at whole epochs (no "epoch 1.5"); other x axes
(label budgets on a log axis, seconds) keep plotly's own ticks."""

from __future__ import annotations

from tlcore import plots


def _one(x):
    return [{"label": "run", "x": x, "mean": [0.5] * len(x)}]


def test_epochs_tick_at_whole_numbers_at_most_ten_ticks():
    short = plots.curves(_one([1, 2, 3, 4, 5]), "target_acc").layout.xaxis
    assert (short.tickmode, short.dtick) == ("linear", 1)
    long = plots.curves(_one(list(range(1, 31))), "val_acc").layout.xaxis
    assert long.dtick == 3  # 30 epochs: every third


def test_other_axes_keep_their_own_ticks():
    assert plots.curves(_one([1, 5, 10]), "test_acc", x_title="labelled images per class (k)").layout.xaxis.tickmode is None
    assert plots.curves(_one([0.4, 1.7]), "val_acc", x_title="seconds of training").layout.xaxis.dtick is None
    budget = plots.budget(_one([1, 5, 10, 100])).layout.xaxis
    assert budget.type == "log" and list(budget.tickvals) == [1, 5, 10, 100] and budget.tickmode is None
