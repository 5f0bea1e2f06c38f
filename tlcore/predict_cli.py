"""``tlcore predict RUN_ID IMAGE... [--top 3] [--store DIR] [--json]``: a stored run
answers image files, with the preprocessing notes of each.

Each file is answered on its own: a file that cannot be used gets one line (stderr, or an
``error`` entry with ``--json``) and the exit code becomes 1, but the other files are
still answered. A run that cannot answer at all (unknown id, no stored model, base weights
that differ from the run's) is one line on stderr and exit code 2, like the other commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    """Register ``predict`` on ``tlcore``'s sub-command parsers."""
    s = sub.add_parser("predict", help="a stored run answers image files: top classes with "
                                       "probabilities and how each image was prepared")
    s.add_argument("run_id", help="a finished run's id (tlcore runs list)")
    s.add_argument("images", nargs="+", metavar="IMAGE",
                   help="PNG, JPEG, BMP, GIF, WebP, TIFF or PPM files")
    s.add_argument("--top", type=int, default=3, help="how many classes to list (default 3)")
    s.add_argument("--store", default=None, help="store folder (default: the user data dir)")
    s.add_argument("--json", action="store_true",
                   help="print a list of {file, predictions: [{class, probability}], notes} "
                        "or {file, error}")
    s.set_defaults(func=cmd_predict)


def _read(path: str) -> bytes:
    """The file's bytes, at most one byte over the upload limit (``read_image`` refuses it)."""
    from tlcore.data.folder import MAX_FILE_BYTES
    from tlcore.predict import BadImage

    p = Path(path)
    if not p.exists():
        raise BadImage(f"{path}: no such file")
    if not p.is_file():
        raise BadImage(f"{path} is not a regular file")
    try:
        with p.open("rb") as f:
            return f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise BadImage(f"{path} cannot be read: {e.strerror or e}") from None


def answer(model, path: str, top: int) -> dict:
    """One file's entry: ``{file, predictions, notes}`` or ``{file, error}``."""
    from tlcore.predict import BadImage, predict, prepare, read_image

    try:
        prepared = prepare(model, read_image(_read(path), path))
    except BadImage as e:
        return {"file": path, "error": str(e)}
    top_k = predict(model, prepared, top)
    return {"file": path, "predictions": [{"class": c, "probability": p} for c, p in top_k],
            "notes": list(prepared.notes)}


def cmd_predict(args: argparse.Namespace) -> int:
    from tlcore.models.base import WeightsUnavailable
    from tlcore.runs import Store
    from tlcore.trained import NoStoredModel, load_trained

    if args.top < 1:
        print(f"tlcore predict: --top must be at least 1, got {args.top}", file=sys.stderr)
        return 2
    try:
        model = load_trained(Store(args.store), args.run_id)
    except (NoStoredModel, WeightsUnavailable, ValueError) as e:
        print(f"tlcore predict: {e}", file=sys.stderr)
        return 2
    rows = [answer(model, path, args.top) for path in args.images]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            if "error" in row:
                print(f"tlcore predict: {row['error']}", file=sys.stderr)
                continue
            print(row["file"])
            width = max(len(p["class"]) for p in row["predictions"])
            for p in row["predictions"]:
                print(f"  {p['class']:<{width}}  {p['probability']:7.2%}")
            for note in row["notes"]:
                print(f"  - {note}")
    return 1 if any("error" in r for r in rows) else 0
