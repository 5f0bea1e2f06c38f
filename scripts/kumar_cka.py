"""Kumar et al. 2022 on one pair: does LP-FT distort the lower layer groups less than
fine-tuning everything from a random head?

Trains ``lp_ft`` and ``finetune_all`` with the same settings through the CLI (a store
reuses finished runs, so a second call only reads them), then prints the linear CKA
between pretrained and trained features per layer group (``tlcore.cka.distortion``).

    python scripts/kumar_cka.py --store /tmp/kumar/store   # ~20 min the first time on 2 cores
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tlcore.cka import distortion  # noqa: E402
from tlcore.runs import Store  # noqa: E402

RUN = ["--backbone", "mobilenet_v2", "--dataset", "fashion_mnist", "--epochs", "8",
       "--labels-per-class", "20", "--test-per-class", "20", "--lr", "1e-3", "--seed", "0"]
STRATEGIES = ("lp_ft", "finetune_all")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True, help="store folder (created if missing)")
    args = ap.parse_args()
    rows = {}
    for s in STRATEGIES:
        out = subprocess.run([sys.executable, "-m", "tlcore", "run", *RUN, "--strategy", s, "--store", args.store,
                              "--json", "--quiet"], check=True, capture_output=True, text=True, cwd=ROOT).stdout
        res = json.loads(out)
        rows[s] = (res["metrics"]["test_accuracy"], distortion(Store(args.store), res["run_id"]))
    groups = list(next(iter(rows.values()))[1])
    print("strategy       test acc  " + "  ".join(f"{g:>8}" for g in groups))
    for s, (acc, d) in rows.items():
        print(f"{s:<14} {acc:8.3f}  " + "  ".join(f"{d[g]:8.3f}" for g in groups))
    lower = groups[: len(groups) // 2]
    less = all(rows["lp_ft"][1][g] >= rows["finetune_all"][1][g] for g in lower)
    print(f"lower groups ({', '.join(lower)}) moved less under LP-FT: {'yes' if less else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
