"""RunConfig <-> URL query parameters, so a copied link restores the same setup.

Only fields that differ from the defaults go into the URL. Parsing never raises: any
invalid or unknown value falls back to its default and adds a notice that the UI shows.

A link is untrusted input (anyone can send one to a student on a class server), so
besides being well-formed a value must be within ``LIMITS`` (a link asking for 10^9
epochs would tie up the server's worker) and a dataset or target given as a path must be
one of this data folder's uploads: a link naming ``/home/teacher/photos`` would
otherwise show that folder's images to whoever opens it. ``TLAB_LINK_ANY_PATH=1`` lifts
the path rule on a single-user machine.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

from tlcore.config import RunConfig
from tlcore.data import DATASETS
from tlcore.paths import data_dir

MAX_LEN = 300  # no legitimate value is longer; longer ones are dropped
# (lowest, highest) a link may ask for; the CLI and scripts are not bound by these. Strategy
# settings (``extra`` and the two settings with fields of their own) take their declared
# ranges (tlcore.strategies.knobs).
LIMITS: dict[str, tuple[int, int] | tuple[float, float]] = {
    "epochs": (1, 500), "batch_size": (1, 4096),
    "labels_per_class": (1, 100_000), "val_per_class": (1, 10_000), "test_per_class": (1, 100_000),
    "input_size": (8, 1024), "seed": (0, 2**32 - 1),
    "lr": (1e-8, 10.0), "backbone_lr_mult": (0.0, 100.0), "weight_decay": (0.0, 1.0),
}
DEVICES = ("cpu", "cuda", "mps", "auto")


def _path_allowed(text: str) -> bool:
    """Whether a domain text names a registered dataset or one of our uploads."""
    if text.partition(":")[0].strip().lower() in DATASETS:
        return True
    if os.environ.get("TLAB_LINK_ANY_PATH", "0").lower() in {"1", "true", "yes"}:
        return True
    try:
        uploads = (data_dir() / "uploads").resolve()
        for cand in (text, text.rpartition(":")[0]):  # with or without ":shift=severity"
            if cand and Path(cand).expanduser().resolve().parent == uploads:
                return True
    except (OSError, ValueError, RuntimeError):  # unwritable data dir, NUL, a symlink loop
        return False
    return False


UPLOAD = "upload:"  # a link names an upload by its sha256's first UPLOAD_CHARS, not its path
UPLOAD_CHARS = 12


def _short_domain(text: str) -> str:
    """``<data dir>/uploads/<sha256>.zip[:shifts]`` -> ``upload:<sha256[:12]>[:shifts]``;
    anything else as it is. Links stay short and show no server path."""
    try:
        uploads = (data_dir() / "uploads").resolve()
        for cand, rest in ((text, ""), text.rpartition(":")[::2]):
            if cand and Path(cand).resolve().parent == uploads and Path(cand).suffix == ".zip":
                return UPLOAD + Path(cand).stem[:UPLOAD_CHARS] + (f":{rest}" if rest else "")
    except (OSError, ValueError, RuntimeError):
        pass
    return text


def _long_domain(raw: str) -> str:
    """The inverse of ``_short_domain``: an ``upload:`` token back to the stored path."""
    if not raw.startswith(UPLOAD):
        return raw
    token, sep, rest = raw[len(UPLOAD):].partition(":")
    if len(token) < 8 or not all(c in "0123456789abcdef" for c in token):
        raise _Refused("not an upload of this server")
    found = sorted((data_dir() / "uploads").glob(f"{token}*.zip"))
    if len(found) != 1:
        raise _Refused("this server has no such upload (it may have been made on another one)")
    return str(found[0]) + (f":{rest}" if sep else "")


def config_to_params(cfg: RunConfig) -> dict[str, str]:
    d, default = cfg.to_dict(), RunConfig().to_dict()
    out = {}
    for k, v in d.items():
        if v == default[k]:
            continue
        if k in ("dataset", "target") and v is not None:
            out[k] = _short_domain(v)
            continue
        if k in ("lr_mults", "extra"):
            out[k] = ",".join(f"{a}:{b:g}" for a, b in v)
        elif k == "trainable_groups":
            out[k] = ",".join(v)
        elif v is None:
            out[k] = "default"
        else:
            out[k] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def _convert(field: dataclasses.Field, raw: str):
    """The field's value from its link text; ``ValueError`` (or ``_Refused``, with a reason
    for the user) when it is not one."""
    if raw == "default" and "None" in str(field.type):
        return None
    if field.name in ("lr_mults", "extra"):
        return _pairs(raw)
    if field.name == "trainable_groups":
        return _names(raw)
    if isinstance(field.default, bool | int | float) or "int" in str(field.type):
        return _number(field, raw)
    return _text(field.name, raw)


def _pairs(raw: str) -> tuple[tuple[str, float], ...]:
    pairs = []
    for item in filter(None, raw.split(",")):
        name, _, val = item.partition(":")
        f = float(val)
        if not math.isfinite(f) or not name.isidentifier():
            raise ValueError(item)
        pairs.append((name, f))
    return tuple(pairs)


def _names(raw: str) -> tuple[str, ...]:
    groups = tuple(g for g in raw.split(",") if g)
    if not all(g.isidentifier() for g in groups):
        raise ValueError(raw)
    return groups


def _number(field: dataclasses.Field, raw: str):
    if isinstance(field.default, bool):
        if raw.lower() not in ("true", "false"):
            raise ValueError(raw)
        return raw.lower() == "true"
    if isinstance(field.default, int) or "int" in str(field.type):
        return int(raw)
    f = float(raw)
    if not math.isfinite(f):
        raise ValueError(raw)
    return f


def _text(name: str, raw: str) -> str:
    if name == "device" and raw not in DEVICES:
        raise ValueError(raw)
    if name in _REGISTERED and raw not in _REGISTERED[name]():
        raise _Refused(f"no such {name}; known: {', '.join(_REGISTERED[name]())}")
    if name in ("dataset", "target"):
        raw = _long_domain(raw)
        if not _path_allowed(raw):
            raise _Refused("a link may name a built-in dataset or one of your uploads, not a "
                           "folder on the server")
    return raw


def _backbones() -> list[str]:
    from tlcore.models import BACKBONES

    return BACKBONES.names()


def _strategies() -> list[str]:
    from tlcore.strategies import STRATEGIES

    return STRATEGIES.names()


_REGISTERED = {"backbone": _backbones, "strategy": _strategies}  # a link may name only these


class _Refused(ValueError):
    """A well-formed value a link may not set; the message says why."""


def _limits() -> dict:
    from tlcore.strategies import all_knobs

    return {**LIMITS, **{k.field: (int(k.low), int(k.high)) for k in all_knobs().values() if k.field}}


def _in_limits(key: str, val) -> bool:
    if key not in _limits() or val is None:
        return True
    low, high = _limits()[key]
    return low <= val <= high


def _checked_settings(pairs: tuple, notices: list[str]) -> tuple:
    """The ``extra`` pairs some strategy declares and whose value is in its range; a notice
    for each one dropped."""
    from tlcore.strategies import all_knobs

    knobs, kept = all_knobs(), []
    for name, val in pairs:
        if name not in knobs:
            notices.append(f"ignored the setting {name!r}: no strategy has it; using the default")
            continue
        try:
            knobs[name].check(val)
        except ValueError as e:
            notices.append(f"ignored the setting {name}={val:g}: {e}")
            continue
        kept.append((name, val))
    return tuple(sorted(kept))


def config_from_params(params: dict[str, str]) -> tuple[RunConfig, list[str]]:
    """Build a RunConfig from query parameters; returns (config, notices)."""
    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    values: dict = {}
    notices: list[str] = []
    for key, raw in params.items():
        if key not in fields:
            continue  # other pages' parameters are not ours to judge
        if not isinstance(raw, str) or len(raw) > MAX_LEN:
            notices.append(f"ignored an over-long value for {key}")
            continue
        try:
            val = _convert(fields[key], raw)
        except (ValueError, TypeError, OverflowError) as e:
            why = str(e) if isinstance(e, _Refused) else "not a valid value"
            notices.append(f"ignored {key}={raw[:40]!r}: {why}; using the default")
            continue
        if key == "extra":
            val = _checked_settings(val, notices)
        if not _in_limits(key, val):
            low, high = _limits()[key]
            notices.append(f"ignored {key}={raw[:40]!r}: a link may ask for {low:,} to {high:,}; "
                           "using the default")
            continue
        values[key] = val
    cfg = RunConfig()
    for key, val in values.items():  # one at a time, so one bad field does not sink the rest
        try:
            cfg = cfg.replace(**{key: val})
        except (ValueError, TypeError) as e:
            notices.append(f"ignored {key}={val!r}: {e}")
    return cfg, notices
