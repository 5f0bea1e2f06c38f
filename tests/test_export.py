"""Exported runs answer as the lab does, outside the lab.

Oracles: the run's own network in PyTorch (ONNX logits within 1e-4 in onnxruntime,
TorchScript's in a fresh process with no Transfer Lab imported), the run's stored
per-image predictions, the lab's ``Preprocess`` (the card's numpy + Pillow code within
1e-5 of it), and the run's record (the card's classes, accuracy and sha256s).
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from tests.engine_helpers import TINY
from tlcore.cli import build_parser, main
from tlcore.data import load_domain
from tlcore.export import ExportError, export_run, export_zip, model_card
from tlcore.jobs import execute
from tlcore.runs import Store
from tlcore.trained import NoStoredModel, load_trained

ROOT = Path(__file__).resolve().parents[1]

FAMILIES = {
    "finetune": TINY.replace(strategy="finetune_all", epochs=2),
    "feature_extraction": TINY.replace(strategy="feature_extraction", epochs=2),
    "dann": TINY.replace(strategy="dann", target="digits:rotate=2", epochs=2),
    # a torchvision backbone at its default size, on few images
    "mobilenet_v2": TINY.replace(backbone="mobilenet_v2", strategy="feature_extraction", epochs=1,
                                 labels_per_class=2, val_per_class=2, test_per_class=4),
}
SWEEP = [pytest.param(f, marks=pytest.mark.slow) if f == "mobilenet_v2" else f for f in FAMILIES]
N_IMAGES = 32  # test images of the run compared per family

# Images the card's preprocessing is checked on, beside the run's own: (height, width, mode).
# Upscaled, shrunk, both at once (wide), grey and colour; see the report on tall images.
SHAPES = [(28, 28, "L"), (64, 64, "RGB"), (60, 100, "RGB"), (20, 50, "RGB"), (130, 150, "RGB")]


class Lab:
    """One store for the module: each family trained once, each (family, format) exported once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = Store(root / "store")
        self.runs: dict[str, str] = {}
        self.exports: dict[tuple[str, str], Path] = {}

    def run(self, family: str) -> str:
        if family not in self.runs:
            rid, _ = self.store.submit(FAMILIES[family])
            execute(self.store, rid)
            rec = self.store.get(rid, history=False)
            assert rec.status == "done", rec.message
            self.runs[family] = rid
        return self.runs[family]

    def export(self, family: str, fmt: str) -> Path:
        if (family, fmt) not in self.exports:
            out = self.root / f"{family}-{fmt}"
            paths = export_run(self.store, self.run(family), fmt, out)
            assert paths == {"model": str(out / ("model.onnx" if fmt == "onnx" else "model.pt")),
                             "card": str(out / "model_card.json")}
            self.exports[family, fmt] = out
        return self.exports[family, fmt]

    def images(self, family: str) -> tuple[torch.Tensor, dict]:
        """The first ``N_IMAGES`` test images of the run (uint8, native size) and its artifacts."""
        rid = self.run(family)
        arts = self.store.load_artifacts(rid)
        cfg = self.store.get(rid, history=False).config
        ds = load_domain(cfg.dataset, seed=cfg.seed)
        return ds.images[arts["index_test"][:N_IMAGES]], arts


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    return Lab(tmp_path_factory.mktemp("export"))


def _card(folder: Path) -> dict:
    return json.loads((folder / "model_card.json").read_text())


@pytest.mark.parametrize("family", SWEEP)
def test_onnx_runs_in_onnxruntime_with_pytorchs_logits(lab, family):
    out = lab.export(family, "onnx")
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx", "model_card.json"]  # one file
    proto = onnx.load(out / "model.onnx")
    onnx.checker.check_model(proto, full_check=True)
    model = load_trained(lab.store, lab.run(family))
    pp = model.preprocess
    [inp], [outp] = proto.graph.input, proto.graph.output
    assert (inp.name, outp.name) == ("input", "logits")
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1:] == [pp.channels, pp.size, pp.size]
    odims = [d.dim_param or d.dim_value for d in outp.type.tensor_type.shape.dim]
    assert odims == [dims[0], len(model.class_names)]  # the same dynamic batch axis

    images, arts = lab.images(family)
    x = pp(images)
    with torch.no_grad():
        ref = model.net(x).numpy()
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], {"input": x.numpy()})[0]
    assert got.shape == (N_IMAGES, len(model.class_names))
    assert np.abs(got - ref).max() < 1e-4
    assert np.array_equal(got.argmax(1), arts["pred_test"][:N_IMAGES].numpy())
    one = sess.run(["logits"], {"input": x[:1].numpy()})[0]  # batch 1: the axis is dynamic
    assert np.abs(one - ref[:1]).max() < 1e-4


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("family", SWEEP)
def test_card_says_what_the_file_needs_and_where_it_came_from(lab, family, fmt):
    out = lab.export(family, fmt)
    card = _card(out)
    rid = lab.run(family)
    rec = lab.store.get(rid, history=False)
    model = load_trained(lab.store, rid)
    arts = lab.store.load_artifacts(rid)
    blob = (out / card["export"]["file"]).read_bytes()
    assert card["export"]["sha256"] == hashlib.sha256(blob).hexdigest()
    assert card["export"]["bytes"] == len(blob) and card["export"]["format"] == fmt
    assert card["run_id"] == rid and card["config"] == rec.config.to_dict()
    assert card["classes"] == list(model.class_names) == rec.metrics["class_names"]
    pp = model.preprocess
    assert (card["input"]["size"], card["input"]["channels"]) == (pp.size, pp.channels)
    assert card["input"]["mean"] == list(pp.mean) and card["input"]["std"] == list(pp.std)
    assert card["metrics"]["test_accuracy"] == rec.metrics["test_accuracy"]
    assert card["metrics"]["test_images"] == len(arts["index_test"])
    weights = rec.provenance["weights"]
    assert [f["sha256"] for f in card["backbone"]["files"]] == [f["sha256"] for f in weights["files"]]
    assert card["backbone"]["files"] and card["backbone"]["source"] == weights["source"]
    assert card["data"]["source"]["files"][0]["sha256"] == rec.provenance["data"]["source"]["files"][0]["sha256"]
    assert card["trained_model"]["sha256"] == rec.provenance["model"]["sha256"]
    assert card["strategy"]["name"] == rec.config.strategy
    if rec.config.target:
        assert card["metrics"]["target_accuracy"] == rec.metrics["target_accuracy"]
        assert card["metrics"]["target_images"] == len(arts["index_target"]) and "target" in card["data"]
    text = json.dumps(card)
    assert str(ROOT) not in text and str(Path.home()) not in text  # no machine paths
    bare = model_card(lab.store, rid, fmt)  # the same card, less what only the file knows
    assert bare == {**card, "export": {"format": fmt, "file": card["export"]["file"]}}


def _card_script(card: dict, fmt: str) -> str:
    """The card's own preprocessing and usage code, verbatim, then checks that save arrays."""
    checks = [
        "import json, sys",
        "files = json.load(open('files.json'))",
        "np.save('card_pre.npy', np.concatenate([preprocess(f) for f in files]))",
    ]
    if fmt == "torchscript":
        checks += ["with torch.no_grad():",
                   "    np.save('logits.npy', net(torch.from_numpy(np.load('inputs.npy'))).numpy())"]
    else:
        checks += ["np.save('logits.npy', session.run(['logits'], {'input': np.load('inputs.npy')})[0])"]
    checks += ["print(json.dumps({'modules': sorted(m for m in ('tlcore', 'torch') if m in sys.modules)}))"]
    return card["preprocessing"] + "\n" + card["usage"] + "\n" + "\n".join(checks) + "\n"


def _write_images(folder: Path, images: torch.Tensor) -> tuple[list[str], list[np.ndarray]]:
    """PNG files of three of the run's test images and of ``SHAPES`` (random pixels);
    returns their names and their uint8 ``[H, W, C]`` pixels."""
    rng = np.random.default_rng(0)
    arrays = [im.permute(1, 2, 0).numpy() for im in images[:3]]
    arrays += [rng.integers(0, 256, (h, w, 1 if mode == "L" else 3), dtype=np.uint8)
               for h, w, mode in SHAPES]
    names = []
    for i, a in enumerate(arrays):
        names.append(f"image{i}.png")
        Image.fromarray(a[..., 0] if a.shape[2] == 1 else a).save(folder / names[-1])
    Image.fromarray(arrays[0][..., 0] if arrays[0].shape[2] == 1 else arrays[0]).save(
        folder / "my_image.png")  # the file the card's usage example predicts
    return names, arrays


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("family", SWEEP)
def test_card_code_runs_in_a_fresh_process_as_the_lab_does(lab, family, fmt):
    """The export folder alone, a new interpreter outside the repo, the card's code as
    printed: its tensors equal the lab's preprocessing, its logits PyTorch's, and it
    never imports Transfer Lab (nor torch, for ONNX)."""
    out = lab.export(family, fmt)
    card = _card(out)
    model = load_trained(lab.store, lab.run(family))
    images, arts = lab.images(family)
    x = model.preprocess(images)
    np.save(out / "inputs.npy", x.numpy())
    names, arrays = _write_images(out, images)
    (out / "files.json").write_text(json.dumps(names))
    (out / "check.py").write_text(_card_script(card, fmt))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run([sys.executable, "check.py"], cwd=out, env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    first, last = p.stdout.strip().splitlines()[0], p.stdout.strip().splitlines()[-1]
    assert json.loads(last)["modules"] == ([] if fmt == "onnx" else ["torch"])

    lab_pre = torch.cat([model.preprocess(torch.from_numpy(a).permute(2, 0, 1)[None])
                         for a in arrays]).numpy()
    card_pre = np.load(out / "card_pre.npy")
    assert card_pre.shape == lab_pre.shape and card_pre.dtype == np.float32
    assert np.abs(card_pre - lab_pre).max() < 1e-5

    with torch.no_grad():
        ref = model.net(x).numpy()
    logits = np.load(out / "logits.npy")
    assert np.abs(logits - ref).max() < 1e-4
    assert np.array_equal(logits.argmax(1), arts["pred_test"][:N_IMAGES].numpy())
    name, prob = ast.literal_eval(first)  # the usage example's own print: predict("my_image.png")
    probs = model.probabilities(images[:1])[0]
    assert name == model.class_names[int(probs.argmax())] and abs(prob - float(probs.max())) < 1e-4


def test_zip_holds_the_model_and_its_card(lab):
    rid = lab.run("feature_extraction")
    name, blob = export_zip(str(lab.store.root), rid, "onnx")  # a folder works as the store
    assert name == f"transfer-lab-{rid}-onnx.zip"
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert sorted(zf.namelist()) == ["model.onnx", "model_card.json"]
        model_bytes, card = zf.read("model.onnx"), json.loads(zf.read("model_card.json"))
    assert card["export"]["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    model = load_trained(lab.store, rid)
    images, _ = lab.images("feature_extraction")
    x = model.preprocess(images[:4])
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        assert np.abs(sess.run(["logits"], {"input": x.numpy()})[0] - model.net(x).numpy()).max() < 1e-4


def test_api_errors_say_why_and_write_nothing(lab, tmp_path):
    rid = lab.run("feature_extraction")
    with pytest.raises(NoStoredModel, match="no run"):
        export_run(lab.store, "0" * 16, "onnx", tmp_path / "a")
    queued, _ = lab.store.submit(TINY.replace(seed=99))  # never executed: no model yet
    with pytest.raises(NoStoredModel, match="queued.*Re-run"):
        model_card(lab.store, queued)
    with pytest.raises(ValueError, match="onnx or torchscript"):
        export_zip(lab.store, rid, "tflite")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="cannot write the export to .*file/out"):
        export_run(lab.store, rid, "torchscript", tmp_path / "file" / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    lab.store.delete(queued)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_cli_exports_and_refuses_in_one_line(lab, tmp_path, capsys):
    assert "export RUN_ID" in build_parser().format_help()
    rid = lab.run("feature_extraction")
    store = str(lab.store.root)
    out = tmp_path / "ts"
    assert main(["export", rid, "--format", "torchscript", "--out", str(out), "--store", store,
                 "--json"]) == 0
    paths = json.loads(capsys.readouterr().out)
    assert Path(paths["model"]) == out / "model.pt" and _card(out)["export"]["format"] == "torchscript"
    assert torch.jit.load(paths["model"])(torch.zeros(2, 3, 32, 32)).shape == (2, 10)

    (tmp_path / "file").write_text("x")
    queued, _ = lab.store.submit(TINY.replace(seed=98))
    bad = {"unknown run": (["0" * 16], "no run 0000000000000000"),
           "no model": ([queued], "it is queued"),
           "unknown format": ([rid, "--format", "tflite"], "choose onnx or torchscript"),
           "unwritable out": ([rid, "--out", str(tmp_path / "file" / "x")], "cannot write")}
    for what, (args, says) in bad.items():
        argv = ["export", *args, "--store", store]
        argv += [] if "--out" in args else ["--out", str(tmp_path / "never")]
        assert main(argv) == 2, what
        err = capsys.readouterr()
        assert err.out == "" and err.err.count("\n") == 1 and says in err.err, (what, err.err)
        assert err.err.startswith("tlcore export: ")
    assert not (tmp_path / "never").exists()
    lab.store.delete(queued)
