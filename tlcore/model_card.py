"""The model card that travels with an exported run: what the file is and how to feed it.

An exported network is useless without what it expects (size, channels, normalisation,
the order of its classes) and dangerous without where it came from (backbone weights and
data, with their sha256). The card states both as JSON, plus the lab's preprocessing as a
few lines of numpy + Pillow a user can copy: executed, they give the tensor the lab feeds
the network to within 1e-5 (``tests/test_export.py`` checks this), because Pillow's
BILINEAR resize of a float ("F") image is the filter ``torch.nn.functional.interpolate(...,
antialias=True)`` was written to match.

Everything here is a pure function of the stored run: no clock, no machine paths (weight
and data files are named by file name and sha256), so a card is the same on every export.
"""

from __future__ import annotations

from pathlib import PurePath

CARD_FORMAT = 1  # bump when a field changes meaning

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}

INPUT_NAME, OUTPUT_NAME = "input", "logits"

_PREPROCESS = '''\
import numpy as np
from PIL import Image, ImageOps

SIZE, CHANNELS = {size}, {channels}
MEAN = np.array({mean}, dtype=np.float32)
STD = np.array({std}, dtype=np.float32)
CLASSES = {classes}


def preprocess(path):
    """One image file -> float32 [1, CHANNELS, SIZE, SIZE], as Transfer Lab feeds the network."""
    img = ImageOps.exif_transpose(Image.open(path))
    if "A" in img.getbands() or "transparency" in img.info:  # transparent: onto white
        img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA"))
    x = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0  # [H, W, 3] in [0, 1]
    if CHANNELS == 1:
        x = x.mean(axis=2, keepdims=True)  # the plain mean of R, G, B (not Pillow's "L")
    if x.shape[:2] != (SIZE, SIZE):  # bilinear, antialiased when shrinking; aspect not kept
        x = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(x[..., c])).resize(
            (SIZE, SIZE), Image.Resampling.BILINEAR)) for c in range(x.shape[2])], axis=2)
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)
'''

_USAGE = {
    "onnx": '''\
# pip install onnxruntime numpy pillow; run after the preprocessing code above
import onnxruntime as ort

session = ort.InferenceSession("model.onnx")


def predict(path):
    """(class name, probability) of one image file."""
    logits = session.run(["logits"], {"input": preprocess(path)})[0][0]
    p = np.exp(logits - logits.max())
    p /= p.sum()  # softmax: probabilities in the order of CLASSES
    return CLASSES[int(p.argmax())], float(p.max())


print(predict("my_image.png"))
''',
    "torchscript": '''\
# pip install torch numpy pillow; run after the preprocessing code above (no Transfer Lab needed)
import torch

net = torch.jit.load("model.pt").eval()  # torch 2.14 warns torch.jit is deprecated; it still loads


def predict(path):
    """(class name, probability) of one image file."""
    with torch.no_grad():
        p = net(torch.from_numpy(preprocess(path)))[0].softmax(0)  # in the order of CLASSES
    return CLASSES[int(p.argmax())], float(p.max())


print(predict("my_image.png"))
''',
}


def check_format(fmt: str) -> str:
    """``fmt`` if it is an export format; otherwise ``ValueError`` naming the choices."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose {' or '.join(FORMATS)}")
    return fmt


def preprocessing_code(size: int, channels: int, mean: tuple[float, ...], std: tuple[float, ...],
                       classes: tuple[str, ...]) -> str:
    """The card's copyable preprocessing, constants filled in (defines ``preprocess``)."""
    return _PREPROCESS.format(size=size, channels=channels, mean=list(mean), std=list(std),
                              classes=list(classes))


def usage_code(fmt: str) -> str:
    """How to run the exported file outside the lab (needs the preprocessing code first)."""
    return _USAGE[check_format(fmt)]


def _named_files(prov: dict) -> dict:
    """``prov`` with each file's local path replaced by its file name (sha256 kept)."""
    out = dict(prov)
    if "files" in prov:
        out["files"] = [{"file": PurePath(f["path"]).name, "sha256": f["sha256"]}
                        for f in prov["files"]]
    return out


def _metrics(rec, n_test: int | None, n_target: int | None) -> dict:
    m = rec.metrics
    out = {"test_accuracy": m.get("test_accuracy"), "test_images": n_test,
           "test_split": "held-out images of the source dataset, never trained on"}
    if "val_accuracy" in m:
        out["val_accuracy"] = m["val_accuracy"]
    if m.get("target_accuracy") is not None:
        out["target_accuracy"] = m["target_accuracy"]
        out["target_images"] = n_target
    return out


def build_card(model, rec, fmt: str, n_test: int | None, n_target: int | None = None) -> dict:
    """The card of ``model`` (a ``tlcore.trained.TrainedModel``) exported as ``fmt``.

    ``rec`` is the run's ``RunRecord``; ``n_test`` / ``n_target`` count the images its
    accuracies were measured on. The exported file's own sha256 and size are added by
    ``tlcore.export`` once the file exists."""
    from tlcore.strategies import STRATEGIES

    pp = model.preprocess
    cfg = model.config
    strategy = STRATEGIES.get(cfg.strategy)
    weights = rec.provenance.get("weights", {})
    c, s = pp.channels, pp.size
    return {
        "card_format": CARD_FORMAT,
        "run_id": model.run_id,
        "title": f"{strategy.title}: {cfg.backbone} on {cfg.dataset}"
                 + (f" -> {cfg.target}" if cfg.target else ""),
        "export": {"format": fmt, "file": FORMATS[fmt]},
        "classes": list(model.class_names),
        "input": {"name": INPUT_NAME, "shape": ["N", c, s, s], "dtype": "float32", "layout": "NCHW",
                  "size": s, "channels": c, "mean": list(pp.mean), "std": list(pp.std),
                  "steps": ["convert to RGB (grey repeated; transparency onto white)",
                            *(["average R, G, B into one channel"] if c == 1 else []),
                            f"resize to {s}x{s} (aspect not kept), bilinear, antialiased when "
                            "shrinking (Pillow BILINEAR on float pixels)",
                            "scale to [0, 1]", "subtract mean, divide by std (per channel)"],
                  "note": "the network's own preprocessing, as the lab applies it to dataset images; "
                          "for a photo unlike the training images the lab's Try it page first fits "
                          "it to their look (tlcore.predict: inverting, cropping and centring an "
                          "object on a plain background)"},
        "output": {"name": OUTPUT_NAME, "shape": ["N", len(model.class_names)], "dtype": "float32",
                   "meaning": "logits; softmax over axis 1 gives probabilities in the order of "
                              "classes"},
        "backbone": {"name": cfg.backbone, "weights": weights.get("weights", cfg.weights),
                     **_named_files(model.backbone_provenance)},
        "data": {k: _named_files(v) for k, v in rec.provenance.get("data", {}).items()},
        "strategy": {"name": strategy.name, "title": strategy.title,
                     "description": strategy.description},
        "config": cfg.to_dict(),
        "metrics": _metrics(rec, n_test, n_target),
        "trained_model": dict(model.model_file),  # the store's file this export was made from
        "preprocessing": preprocessing_code(s, c, pp.mean, pp.std, model.class_names),
        "usage": usage_code(fmt),
    }
