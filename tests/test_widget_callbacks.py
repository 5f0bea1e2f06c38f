"""A bound widget's callback writes the setup in a full run only: a fragment timer's rerun
carries the browser's widget values as they were when it fired, and its call would write
a stale value back over the setup (an upload reverted to the old dataset, seen in CI)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from ui import state


@pytest.mark.parametrize("fragments, runs", [([], True), (["sidebar-counts"], False)])
def test_a_bound_callback_runs_in_a_full_run_and_not_in_a_fragments_rerun(monkeypatch, fragments, runs):
    calls = []
    cb = state.widget_callback(lambda *a, **k: calls.append((a, k)))
    monkeypatch.setattr(state, "get_script_run_ctx", lambda: SimpleNamespace(fragment_ids_this_run=fragments))
    cb(1, x=2)
    assert calls == ([((1,), {"x": 2})] if runs else [])


def test_outside_streamlit_a_bound_callback_still_runs(monkeypatch):
    calls = []
    monkeypatch.setattr(state, "get_script_run_ctx", lambda: None)
    state.widget_callback(lambda: calls.append(1))()
    assert calls == [1]


def test_the_setup_writing_callbacks_are_guarded():
    """Every on_change of a widget whose value the server sets: the pickers' setter and
    domain picker, the upload, the Model page's backbone and plan, and the dataset maker's
    draft and class pickers."""
    from ui.pickers import setter

    assert hasattr(setter("k", lambda v: {}), "__wrapped__")
    root = Path(__file__).resolve().parent.parent
    src = {p: (root / p).read_text() for p in ("ui/pickers.py", "app_pages/data.py", "app_pages/model.py",
                                                "ui/dataset_maker.py")}
    assert src["ui/pickers.py"].count("@widget_callback") == 2  # setter's apply, domain_picker's write
    assert "@widget_callback\ndef _on_upload" in src["app_pages/data.py"]
    for name in ("_on_backbone", "_on_preset"):
        assert f"@widget_callback\ndef {name}" in src["app_pages/model.py"]
    assert "@widget_callback\ndef _pick_class" in src["ui/dataset_maker.py"]
    assert "on_change=widget_callback(lambda: _open(" in src["ui/dataset_maker.py"]
