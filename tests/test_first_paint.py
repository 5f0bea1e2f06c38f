"""A fresh server's first paint of Home waits for no torch.

Importing torch takes ~4 s on 2 cores (with torchvision and the models ~5 s), Home's first
paint must take under 3 s (``bench/bench_first_answer.py --paint-only``). So the modules
app.py and Home import at the top stay torch-free. On a fresh server Home's first run draws
a note where the workflow diagram goes (the diagram needs torch: its freeze plan builds the
network) and the page is drawn again once a background thread has imported it (``ui.warm``);
with ``TLAB_WARMUP=0`` the diagram comes last in the same run, after the Run button is sent.
Each check runs in a fresh interpreter: this test process imported torch long ago
(conftest). When one fails, it prints the import stack that brought torch in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Records, in order, what the app sends (the Run button, the diagram) and the moment torch
# is first imported, with the stack that imported it. Streamlit's test runner and its
# server both send through ForwardMsgQueue.enqueue, in the order the page makes elements.
WATCH = r"""
import json, sys, traceback

events, stacks = [], []


class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not stacks:  # called only while torch is not yet imported
            events.append("torch")
            frames = [f for f in traceback.extract_stack()[:-1] if "<frozen" not in f.filename]
            stacks.append("".join(traceback.format_list(frames[-12:])))
        return None


sys.meta_path.insert(0, Watch())
"""

HOME = WATCH + r"""
from streamlit.runtime.forward_msg_queue import ForwardMsgQueue
from streamlit.testing.v1 import AppTest

enqueue = ForwardMsgQueue.enqueue


def record(self, msg):
    if msg.HasField("delta") and msg.delta.WhichOneof("type") == "new_element":
        el = msg.delta.new_element
        kind = el.WhichOneof("type")
        if kind == "button" and el.button.id.endswith("home_run"):
            events.append("button")
        elif kind == "markdown" and 'class="tl-workflow"' in el.markdown.body:
            events.append("diagram")
    enqueue(self, msg)


ForwardMsgQueue.enqueue = record
at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
got = {"events": events, "stack": stacks[0] if stacks else "", "exceptions": [e.value for e in at.exception],
       "markdown": [m.value for m in at.markdown]}
if sys.argv[2] == "warm-up":  # as if the browser had painted: the preload thread, then a rerun
    import tlcore.embed
    import ui.warm

    tlcore.embed.warm_up = lambda **kw: None  # no UMAP import racing this interpreter's exit
    events.append("painted")
    ui.warm.start()
    ui.warm._loaded.wait(120)
    at.run()
    got.update(events=events, exceptions=[e.value for e in at.exception])
print(json.dumps(got))
"""


def _run(code: str, *args: str, tmp_path: Path, warmup: str = "0") -> dict:
    env = {**os.environ, "TLAB_DATA_DIR": str(tmp_path / "data"), "TLAB_WARMUP": warmup,
           "TLAB_PRESTART_WORKER": "0"}
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_dataset_registry_imports_no_torch(tmp_path):
    """tlcore.data (dataset names and specs, read by the URL state on every page) and the
    modules app.py and Home import at their top."""
    code = WATCH + r"""
import streamlit, tlcore.data, tlcore.urlstate
import ui.state, ui.sidebar, ui.store, ui.runview, ui.workspace
import tlcore.compare, tlcore.names, tlcore.plots
assert len(tlcore.data.DATASETS.names()) > 3
print(json.dumps({"events": events, "stack": stacks[0] if stacks else ""}))
"""
    got = _run(code, tmp_path=tmp_path)
    assert got["events"] == [], "torch was imported from:\n" + got["stack"]


def test_home_sends_the_run_button_before_it_imports_torch(tmp_path):
    """``TLAB_WARMUP=0``: one run, the diagram last."""
    got = _run(HOME, str(ROOT / "app.py"), "-", tmp_path=tmp_path)
    assert not got["exceptions"], got["exceptions"]
    events = got["events"]
    assert "button" in events and "diagram" in events, events
    assert events.index("button") < events.index("torch"), (
        f"Home imported torch before it sent the Run button ({events}); torch was imported from:\n"
        + got["stack"])
    assert events.index("torch") < events.index("diagram"), events  # the diagram needs it, drawn last


def test_a_fresh_servers_first_run_imports_no_torch_and_the_next_draws_the_diagram(tmp_path):
    """The warm-up on (as ``make app`` runs the app): the first run sends the page with a note
    for the diagram and imports no torch; the run after the warm-up thread draws the diagram."""
    got = _run(HOME, str(ROOT / "app.py"), "warm-up", tmp_path=tmp_path, warmup="1")
    assert not got["exceptions"], got["exceptions"]
    events = got["events"]
    assert events[:events.index("painted")] == ["button"], (
        f"the first run sent {events}; torch was imported from:\n" + got["stack"])
    assert any("workflow diagram appears here in a few seconds" in m for m in got["markdown"]), got["markdown"]
    assert events[events.index("painted"):] == ["painted", "torch", "button", "diagram"], events
