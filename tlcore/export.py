"""Take a trained run away: its network as ONNX or TorchScript, with a JSON model card.

The exported graph is the run's whole ``GroupedNet`` in eval mode: normalised float32
``[N, C, S, S]`` named ``input`` in, ``logits`` ``[N, classes]`` out, the batch axis
dynamic. Preprocessing stays outside the graph (the card gives it as copyable numpy +
Pillow code), so the file runs on any image pipeline that can produce that tensor.

ONNX goes through ``torch.onnx.export(..., dynamo=True)``: the ``torch.export``-based
exporter, the default and the maintained one since torch 2.9 (the TorchScript-based
legacy exporter still runs in 2.14 but warns that it will be removed). Its program is
serialised in memory into one self-contained file (no ``.onnx.data`` side file) and
checked with ``onnx.checker``. TorchScript is ``torch.jit.trace``: 2.14 marks ``torch.jit``
deprecated but ``torch.jit.load`` still reads it, with no Transfer Lab code needed.

Every function is a pure function of (store folder, run id, format), so a page can cache
``export_zip`` by those three values.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import zipfile
from pathlib import Path

from tlcore.model_card import FORMATS, INPUT_NAME, OUTPUT_NAME, build_card, check_format

CARD_FILE = "model_card.json"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so a zip's bytes depend on its content only


class ExportError(RuntimeError):
    """The export could not be written (the message names the folder and why)."""


def _store(store):
    """A ``Store`` from a ``Store`` or its folder (a plain path caches well in a page)."""
    from tlcore.runs import Store

    return store if isinstance(store, Store) else Store(store)


def _example(model, batch: int, seed: int = 0):
    """A random normalised batch ``[batch, C, S, S]`` to trace and check with."""
    import torch

    pp = model.preprocess
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, pp.channels, pp.size, pp.size, generator=gen)


def onnx_bytes(model, metadata: dict[str, str] | None = None) -> bytes:
    """``model.net`` as one ONNX file; batch axis ``batch``; ``metadata`` into the file's
    ``metadata_props``. Raises ``onnx.checker.ValidationError`` on an invalid graph."""
    import onnx
    import torch

    program = torch.onnx.export(
        model.net, (_example(model, 2),), dynamo=True, verbose=False, optimize=True,
        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: torch.export.Dim("batch")},))
    proto = program.model_proto
    for key, value in (metadata or {}).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def torchscript_bytes(model) -> bytes:
    """``model.net`` traced to TorchScript (checked on a second batch size)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        # 2.14 warns on every torch.jit call; the format is still what the issue asks for
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated")
        # EfficientNet-Lite's "SAME" padding becomes a constant of the input size, which the
        # card fixes anyway
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning,
                                module=r"tlcore\.models\.efficientnet_lite")
        traced = torch.jit.trace(model.net, _example(model, 2),
                                 check_inputs=[(_example(model, 3, seed=1),)])
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
    return buf.getvalue()


def _load(store, rid: str, fmt: str):
    """(store, ``TrainedModel``); raises ``ValueError`` for ``fmt``, ``NoStoredModel`` for
    a run without a model, before anything slow happens."""
    from tlcore.trained import load_trained

    check_format(fmt)
    st = _store(store)
    return st, load_trained(st, rid)


def _export(st, model, fmt: str) -> tuple[bytes, dict]:
    """(model file bytes, card) of a loaded run."""
    import torch

    rid = model.run_id
    card = model_card(st, rid, fmt, model=model)
    if fmt == "onnx":
        blob = onnx_bytes(model, {"run_id": rid, "classes": json.dumps(card["classes"]),
                                  "input": json.dumps(card["input"])})
        import onnx

        opset = next(o.version for o in onnx.load_from_string(blob).opset_import if o.domain == "")
        exporter = f"torch {torch.__version__} torch.onnx.export(dynamo=True), opset {opset}"
    else:
        blob = torchscript_bytes(model)
        exporter = f"torch {torch.__version__} torch.jit.trace"
    card["export"].update(sha256=hashlib.sha256(blob).hexdigest(), bytes=len(blob),
                          exporter=exporter)
    return blob, card


def model_card(store, rid: str, fmt: str = "onnx", model=None) -> dict:
    """Run ``rid``'s card for an export as ``fmt`` (without the exported file's sha256 and
    size, which only the export knows). ``model``: the already loaded ``TrainedModel``.
    Raises ``NoStoredModel`` for an unknown run or one that kept no model."""
    from tlcore.trained import load_trained

    check_format(fmt)
    st = _store(store)
    model = model if model is not None else load_trained(st, rid)
    rec = st.get(rid, history=False)
    arts = st.load_artifacts(rid)
    n_test = len(arts["index_test"]) if "index_test" in arts else None
    n_target = len(arts["index_target"]) if "index_target" in arts else None
    return build_card(model, rec, fmt, n_test, n_target)


def card_text(card: dict) -> str:
    return json.dumps(card, indent=2) + "\n"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave half a file behind
        raise


def export_run(store, rid: str, fmt: str, out_dir: str | os.PathLike) -> dict:
    """Write ``out_dir/model.onnx`` (or ``model.pt``) and ``out_dir/model_card.json``;
    returns ``{"model": path, "card": path}``. Raises ``ExportError`` when ``out_dir``
    cannot be written, ``NoStoredModel`` and ``ValueError`` as ``model_card`` does."""
    st, model = _load(store, rid, fmt)
    out = Path(out_dir)
    paths = {"model": out / FORMATS[fmt], "card": out / CARD_FILE}
    try:
        out.mkdir(parents=True, exist_ok=True)  # an unwritable --out fails before the export
    except OSError as e:
        raise ExportError(f"cannot write the export to {out}: {e.strerror or e}") from None
    blob, card = _export(st, model, fmt)
    try:
        _write_atomic(paths["model"], blob)
        _write_atomic(paths["card"], card_text(card).encode())
    except OSError as e:
        raise ExportError(f"cannot write the export to {out}: {e.strerror or e}") from None
    return {k: str(p) for k, p in paths.items()}


def export_zip(store, rid: str, fmt: str) -> tuple[str, bytes]:
    """(file name, zip bytes) holding the model file and ``model_card.json``, for a
    download button."""
    blob, card = _export(*_load(store, rid, fmt), fmt)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in ((FORMATS[fmt], blob), (CARD_FILE, card_text(card).encode())):
            zf.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), data,
                        compress_type=zipfile.ZIP_DEFLATED)
    return f"transfer-lab-{rid}-{fmt}.zip", buf.getvalue()


def cmd_export(args: argparse.Namespace) -> int:
    """``tlcore export RUN_ID --format F --out DIR``: one line per file written, or one
    line saying why not (exit 2)."""
    from tlcore.runs import Store
    from tlcore.trained import NoStoredModel

    try:
        check_format(args.format)
        paths = export_run(Store(args.store), args.run_id, args.format, args.out)
    except (NoStoredModel, ExportError, ValueError) as e:
        print(f"tlcore export: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(paths, indent=2))
    else:
        size = Path(paths["model"]).stat().st_size
        print(f"wrote {paths['model']} ({size / 1e6:.2f} MB)\nwrote {paths['card']}")
    return 0


def add_parser(sub) -> None:
    """Register ``tlcore export`` on the CLI's subparsers."""
    s = sub.add_parser("export", help="write a finished run's network as ONNX or TorchScript, "
                                      "with a JSON model card (classes, preprocessing, provenance)")
    s.add_argument("run_id", metavar="RUN_ID", help="run id (tlcore runs list)")
    s.add_argument("--format", default="onnx", metavar="|".join(FORMATS),
                   help="onnx (runs in onnxruntime) or torchscript (torch.jit.load); default onnx")
    s.add_argument("--out", required=True, metavar="DIR",
                   help="folder to write model.onnx / model.pt and model_card.json into")
    s.add_argument("--store", default=None, help="store folder (default: the user data dir)")
    s.add_argument("--json", action="store_true", help="print the paths written as JSON")
    s.set_defaults(func=cmd_export)
