"""The catalogue commands: what is registered and available here (`list`, `show`, `strategies`), and
making the offline path ready (`setup`, `pretrain`).
"""

from __future__ import annotations

import argparse
import json
import sys

from tlcore.cli_common import print_out


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "datasets":
        from tlcore.data import DATASETS

        rows = []
        for spec in DATASETS:
            avail = spec.check()
            rows.append({
                "name": spec.name, "title": spec.title, "available": avail.available,
                "reason": avail.reason, "source": spec.source, "licence": spec.licence,
                "num_classes": spec.num_classes, "shape": list(spec.shape),
            })
        lines = [f"{'yes' if r['available'] else 'NO ':4} {r['name']:18} {r['title']}  [{r['source']}]"
                 + ("" if r["available"] else f"\n     -> {r['reason']}") for r in rows]
    else:
        from tlcore.models import list_backbones

        rows = []
        for spec in list_backbones():
            weights = []
            for w in spec.weights.values():
                a = w.check()
                weights.append({"name": w.name, "title": w.title, "available": a.available,
                                "reason": a.reason, "source": w.source, "licence": w.licence})
            default = next(w for w in weights if w["name"] == spec.default_weights)
            rows.append({
                "name": spec.name, "family": spec.family, "title": spec.title,
                "available": default["available"], "reason": default["reason"],
                "source": default["source"], "default_weights": spec.default_weights,
                "default_size": spec.default_size, "native_size": spec.native_size,
                "weights": weights,
            })
        lines = [f"{'yes' if r['available'] else 'NO ':4} {r['name']:20} {r['default_weights']:16} {r['source']}"
                 + ("" if r["available"] else f"\n     -> {r['reason']}") for r in rows]
    print_out(rows, args.json, lines)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    if args.what == "backbone":
        from tlcore.models import build_backbone

        bb = build_backbone(args.name, weights=args.weights, input_size=args.size)
        groups = bb.groups()
        obj = {"name": args.name, "weights": bb.weights.name, "provenance": bb.provenance.to_dict(),
               "preprocess": bb.preprocess.to_dict(), "groups": [g.to_dict() for g in groups]}
        lines = [f"{args.name} / {bb.weights.name}: {bb.provenance.text()}",
                 f"input {bb.preprocess.channels}x{bb.preprocess.size}x{bb.preprocess.size}"]
        lines += [f"  {g.name:10} {g.params:>10,} params  -> {list(g.output_shape)}" for g in groups]
    else:
        from tlcore.data import load_domain

        ds = load_domain(args.name)
        obj = {"name": ds.name, "size": len(ds), "shape": list(ds.images.shape[1:]),
               "classes": list(ds.class_names), "class_counts": ds.class_counts(),
               "provenance": ds.provenance.to_dict()}
        lines = [f"{ds.name}: {len(ds)} images {list(ds.images.shape[1:])}",
                 f"provenance: {ds.provenance.text()}"]
        lines += [f"  {c:14} {n}" for c, n in zip(ds.class_names, ds.class_counts(), strict=True)]
    print_out(obj, args.json, lines)
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from tlcore.models.lab import LAB_SOURCES
    from tlcore.models.pretrain import pretrain

    names = list(LAB_SOURCES) if args.name == "all" else [args.name]
    for name in names:
        if name not in LAB_SOURCES:
            print(f"unknown lab model {name!r}; choose from {', '.join(LAB_SOURCES)} or all", file=sys.stderr)
            return 2
        card = pretrain(name, seed=args.seed, epochs=args.epochs,
                        progress=lambda m: print(m, file=sys.stderr, flush=True))
        print(json.dumps({k: card[k] for k in ("name", "dataset", "test_accuracy", "sha256")}))
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    """Make the offline path ready: weights into the torch hub cache, datasets decoded."""
    from tlcore.data import DATASETS, load_dataset
    from tlcore.models import weight_files

    ok = True
    for path, digest in weight_files.seed_offline():
        print(f"weights  {path} sha256 {digest[:16]}...")
    if args.warm:
        for spec in DATASETS:
            avail = spec.check()
            if not avail.available:
                ok = False
                print(f"dataset  {spec.name}: MISSING - {avail.reason}")
                continue
            ds = load_dataset(spec.name)
            print(f"dataset  {spec.name}: {len(ds)} images cached")
        import time

        from tlcore.embed import warm_up

        t = time.perf_counter()
        warm_up(block=True)  # numba writes the compiled kernels to its disk cache
        print(f"umap     kernels compiled and cached in {time.perf_counter() - t:.0f} s")
    return 0 if ok else 1


def cmd_strategies(args: argparse.Namespace) -> int:
    import dataclasses

    from tlcore.strategies import STRATEGIES

    rows = [{"name": s.name, "title": s.title, "description": s.description, "pretrained": s.pretrained,
             "settings": [dataclasses.asdict(k) for k in s.knobs]} for s in STRATEGIES]
    print_out(rows, args.json, [f"{s.name:18} {s.description}" + "".join(f"\n{'':18}   --set {k.describe()}"
                                                                      for k in s.knobs) for s in STRATEGIES])
    return 0


def add_parser(sub) -> None:
    """Add this module's commands to the ``tlcore`` parser."""
    s = sub.add_parser("list", help="list registered datasets or backbones and whether they are available here")
    s.add_argument("what", choices=["datasets", "backbones"])
    s.add_argument("--json", action="store_true", help="print JSON (one object per entry)")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("show", help="details of one backbone (layer groups) or dataset (classes, provenance)")
    s.add_argument("what", choices=["backbone", "dataset"])
    s.add_argument("name", help="registered name; for datasets also 'name:shift=severity' or a path")
    s.add_argument("--weights", default=None, help="backbone weights name (default: its pretrained weights; 'none' = random)")
    s.add_argument("--size", type=int, default=None, help="input size in pixels for output shapes")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("pretrain", help="train lab-zoo models on their source tasks; writes assets/lab_zoo/")
    s.add_argument("name", help="lab model name or 'all'")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--epochs", type=int, default=None, help="override the entry's epoch count")
    s.set_defaults(func=cmd_pretrain)

    s = sub.add_parser("strategies", help="list registered strategies")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_strategies)

    s = sub.add_parser("setup", help="seed offline weight files into the torch hub cache")
    s.add_argument("--warm", action="store_true",
                   help="also decode and cache every dataset and compile UMAP's kernels (what `make app` "
                        "does once, so a first click does not wait for them)")
    s.set_defaults(func=cmd_setup)
