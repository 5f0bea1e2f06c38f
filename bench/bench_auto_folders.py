"""`--strategy auto` on two user folders of ~2,000 images each: how long, and what it picks.

    python bench/bench_auto_folders.py                  # mobilenet_v2, 9 x 222 images per domain (~25 min, 2 cores)
    python bench/bench_auto_folders.py --no-baseline    # the default regime alone (~5 min)
    python bench/bench_auto_folders.py --quick          # lab_synth_digits, 9 x 80 images (~1 min)
    python bench/bench_auto_folders.py --keep /tmp/uf   # keep the zips and the stores there

Issue #16 asks that auto on two ~2,000-image folders finish "in a few minutes on 2 cores".
The issue's own pair is held back, so this builds a stand-in from shipped data: 9 digit
classes (1-9) x 222 images, 32 px colour PNGs in class folders, font-rendered digits
(``synth_digits``) as the labelled source and MNIST-M digits as the target: the same
classes in two styles. It then runs what a new user would type,
``tlcore run --backbone B --dataset src.zip --target tgt.zip --strategy auto`` (defaults
otherwise: every labelled source image, the backbone's size, the study's 5 epochs, the top
half of the groups adapting), in this process on a fresh store, then the baseline: the
same with every group training (``--set adapt_top=0``, how auto ran before), on another
fresh store. It prints both wall times and their ratio, each candidate's seconds, target
accuracy and DEV under both, and each regime's pick.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_zip(path: Path, dataset: str, per_class: int, seed: int = 0) -> Path:
    """``per_class`` images of digits 1-9 from ``dataset`` as 32 px RGB PNGs in class folders."""
    from PIL import Image

    from tlcore.data import load_domain

    ds = load_domain(dataset)
    rng = np.random.default_rng(seed)
    labels = ds.labels.numpy()
    with zipfile.ZipFile(path, "w") as z:
        for c in range(1, 10):
            for i in rng.choice(np.flatnonzero(labels == c), per_class, replace=False):
                a = ds.images[i].numpy().transpose(1, 2, 0)
                im = Image.fromarray(np.repeat(a, 3, 2) if a.shape[2] == 1 else a).resize((32, 32), Image.BICUBIC)
                buf = io.BytesIO()
                im.save(buf, "PNG")
                z.writestr(f"digit_{c}/{i}.png", buf.getvalue())
    return path


def auto(store: Path, backbone: str, src: Path, tgt: Path, settings: list[str]) -> tuple[float, list]:
    """``tlcore run ... --strategy auto`` as a new user types it (plus ``settings``); its wall
    seconds and the candidates' records."""
    from tlcore.cli import main as cli
    from tlcore.runs import Store

    t0 = time.perf_counter()
    rc = cli(["run", "--store", str(store), "--backbone", backbone, "--dataset", str(src), "--target", str(tgt),
              "--strategy", "auto", "--quiet", *[x for s in settings for x in ("--set", s)]])
    wall = time.perf_counter() - t0
    if rc:
        raise SystemExit(rc)
    return wall, Store(store).list()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small lab backbone on 80 images per class")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the baseline (every group trains: adapt_top=0), which takes ~20 min at full size")
    p.add_argument("--keep", default=None, help="folder for the zips and the stores (default: a temp dir)")
    a = p.parse_args()
    backbone, per_class = ("lab_synth_digits", 80) if a.quick else ("mobilenet_v2", 222)
    from tlcore.transfer.criteria_study import auto_pick, label

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.keep or tmp)
        root.mkdir(parents=True, exist_ok=True)
        src, tgt = make_zip(root / "src.zip", "synth_digits", per_class), make_zip(root / "tgt.zip", "mnist_m", per_class)
        # separate stores: the two regimes share no run, and each starts as a new user's would
        regimes = {"default (top half adapts)": auto(root / "store_default", backbone, src, tgt, [])}
        if not a.no_baseline:
            regimes["baseline (every group, adapt_top=0)"] = auto(root / "store_all", backbone, src, tgt, ["adapt_top=0"])
        print()
        for name, (wall, recs) in regimes.items():
            picked = auto_pick(recs).picked  # what the command printed (by the recorded study's criterion)
            print(f"auto on 2 x {9 * per_class:,} images, {backbone}, {name}: {wall / 60:.1f} min wall; "
                  f"picked {label(picked.config)}")
        if len(regimes) == 2:
            (w0, _), (w1, _) = regimes.values()
            print(f"default vs baseline, wall: {w0 / w1:.2f}x the time ({w1 / w0:.1f}x faster)")
        print(f"\n{'candidate':24} " + " ".join(f"{'s':>6} {'target':>6} {'DEV':>7}" for _ in regimes)
              + "   (" + " | ".join(regimes) + ")")
        rows = {name: {label(r.config): r for r in recs} for name, (_, recs) in regimes.items()}
        for cand in next(iter(rows.values())):
            cells = []
            for by in rows.values():
                r = by.get(cand)
                cells.append(" " * 22 if r is None else f"{r.seconds:6.0f} {r.metrics.get('target_accuracy', float('nan')):6.3f} "
                             f"{r.metrics.get('criteria', {}).get('dev', float('nan')):7.3g}")
            print(f"{cand:24} " + " ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
