"""Prediction benchmark: one picture through a stored run, heat map included, against the
network's bare forward pass (targets: lab net well under 0.5 s, MobileNetV2 under 1 s).

    python bench/bench_predict.py               # 30 repeats per cell (~30 s on 2 cores)
    python bench/bench_predict.py --quick       # smoke check: 3 repeats (~15 s)
    python bench/bench_predict.py --threads 1   # on a shared or busy machine

Two runs are trained into a temporary store first (feature extraction on MNIST: the lab
net ``lab_synth_digits`` at 32 px and MobileNetV2 with its ImageNet weights at 64 px) and
rebuilt with ``load_trained``; model loading is not timed in the table (the app keeps the
model in a cache). Each row times, in this process, medians of ``--repeats`` calls:

* forward: ``net(x)`` under ``no_grad`` on the already normalised input: the baseline;
* prepare: ``read_image`` + ``prepare`` (decode, fit to the training images, preprocess);
* predict: ``predict`` (preprocessing and softmax included);
* heat map: ``heatmap`` + ``overlay`` for the top class (Grad-CAM: a forward and a
  backward pass);
* total: all of it in one timed call, from the file's bytes to the answer and the overlay.

The inputs: a 280x280 canvas-sized PNG drawing and JPEG "photos" of a digit on unevenly lit
paper, 1600x1200 and 4032x3024 (12 MP, a phone camera's). The first call of each model
(measuring its training images' statistics, importing captum) is reported in the notes,
not in the table.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable as `python bench/bench_predict.py` without installing
    sys.path.insert(0, str(ROOT))

from tlcore.cam import heatmap, overlay  # noqa: E402
from tlcore.config import RunConfig  # noqa: E402
from tlcore.jobs import execute  # noqa: E402
from tlcore.predict import predict, prepare, read_image  # noqa: E402
from tlcore.runs import Store  # noqa: E402
from tlcore.trained import load_trained  # noqa: E402

# model label -> (config, target seconds for the total)
MODELS = {
    "lab_synth_digits 32px": (RunConfig(backbone="lab_synth_digits", dataset="mnist",
                                        labels_per_class=10, test_per_class=20, epochs=3), 0.5),
    "mobilenet_v2 ImageNet 64px": (RunConfig(backbone="mobilenet_v2", input_size=64,
                                             dataset="mnist", labels_per_class=5, val_per_class=5,
                                             test_per_class=10, epochs=2), 1.0),
}
HEADER = ("| model | input | forward ms | prepare ms | predict ms | heat map ms | total ms "
          "| total / forward | target | met? |")


def drawing() -> bytes:
    """A 7 in a 20 px pen on a 280x280 white canvas, off its centre."""
    im = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(im).line([(40, 40), (150, 40), (90, 230)], fill=0, width=20)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def photo(w: int = 1600, h: int = 1200) -> bytes:
    """A ``w`` x ``h`` JPEG: a dark 4 on paper lit unevenly, with sensor noise and blur."""
    yy, xx = np.mgrid[0:h, 0:w]
    paper = 190 + 40 * (xx / w) - 25 * (yy / h) + np.random.default_rng(0).normal(0, 5, (h, w))
    im = Image.fromarray(paper.clip(0, 255).astype(np.uint8))
    k = w / 1600
    pen = round(45 * k)
    ImageDraw.Draw(im).line([(900 * k, 300 * k), (700 * k, 750 * k), (1100 * k, 750 * k)], fill=40,
                            width=pen)
    ImageDraw.Draw(im).line([(1000 * k, 450 * k), (1000 * k, 1000 * k)], fill=40, width=pen)
    buf = io.BytesIO()
    im.convert("RGB").filter(ImageFilter.GaussianBlur(2)).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def answer(model, data: bytes):
    """Everything the Try it page does for one run and one picture."""
    prepared = prepare(model, read_image(data, "bench"))
    top = predict(model, prepared, top=3)
    heat = heatmap(model, prepared, class_index=model.class_names.index(top[0][0]))
    return top, overlay(prepared.seen, heat)


def bench_model(label: str, model, target: float, inputs: dict[str, bytes], repeats: int
                ) -> tuple[list[str], list[str]]:
    rows, notes = [], []
    t = time.perf_counter()
    answer(model, next(iter(inputs.values())))
    notes.append(f"{label}: first answer {time.perf_counter() - t:.2f} s (it measures the training "
                 "images once per domain, and the first model's also imports captum)")
    for name, data in inputs.items():
        prepared = prepare(model, read_image(data))
        x = model.preprocess(prepared.images)

        def forward(x=x):
            with torch.no_grad():
                model.net(x)

        best = model.class_names.index(predict(model, prepared, top=1)[0][0])
        heat = lambda p=prepared, c=best: overlay(p.seen, heatmap(model, p, c))  # noqa: E731
        f = _median_s(forward, repeats)
        p = _median_s(lambda d=data: prepare(model, read_image(d)), repeats)
        q = _median_s(lambda pr=prepared: predict(model, pr), repeats)
        h = _median_s(heat, repeats)
        total = _median_s(lambda d=data: answer(model, d), repeats)
        met = "yes" if total < target else "NO"
        ms = " | ".join(f"{v * 1e3:.1f}" for v in (f, p, q, h, total))
        rows.append(f"| {label} | {name} | {ms} | {total / f:.1f}x | < {target * 1e3:.0f} ms "
                    f"| {met} |")
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats: a smoke check")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed calls per cell (default 30; quick 3)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(),
                    help="torch intra-op threads (default: torch's own choice)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (3 if args.quick else 30)
    load0 = os.getloadavg()[0]
    inputs = {"drawing 280x280 PNG": drawing(), "photo 1600x1200 JPEG": photo(),
              "phone photo 4032x3024 JPEG": photo(4032, 3024)}
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="tlab-bench-predict-") as tmp:
        store = Store(tmp)
        for label, (cfg, target) in MODELS.items():
            rid, _ = store.submit(cfg)
            execute(store, rid)
            rec = store.get(rid, history=False)
            if rec.status != "done":
                print(f"{label}: the run did not finish: {rec.message}", file=sys.stderr)
                return 1
            t = time.perf_counter()
            model = load_trained(store, rid)
            notes.append(f"{label}: run {rid} (test accuracy {rec.metrics['test_accuracy']:.3f}), "
                         f"model loaded in {time.perf_counter() - t:.2f} s "
                         f"({model.model_file['bytes']:,} bytes)")
            r, n = bench_model(label, model, target, inputs, repeats)
            rows += r
            notes += n
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    print("\n".join(rows))
    print()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch thread(s); 1-min load average {load0:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end (above ~0 means other processes shared the CPU).")
    print(f"Clock: wall seconds, median of {repeats} calls per cell.")
    print("\n".join(f"- {n}" for n in notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
