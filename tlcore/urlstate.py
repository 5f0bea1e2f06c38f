"""RunConfig <-> URL query parameters, so a copied link restores the same setup.

Only fields that differ from the defaults go into the URL. Parsing never raises: any
invalid or unknown value falls back to its default and adds a notice that the UI shows.
"""

from __future__ import annotations

import dataclasses
import math

from tlcore.config import RunConfig

MAX_LEN = 300  # no legitimate value is longer; longer ones are dropped


def config_to_params(cfg: RunConfig) -> dict[str, str]:
    d, default = cfg.to_dict(), RunConfig().to_dict()
    out = {}
    for k, v in d.items():
        if v == default[k]:
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
    default = field.default
    typ = str(field.type)
    if raw == "default" and ("None" in typ):
        return None
    if field.name in ("lr_mults", "extra"):
        pairs = []
        for item in filter(None, raw.split(",")):
            name, _, val = item.partition(":")
            f = float(val)
            if not math.isfinite(f) or not name.isidentifier():
                raise ValueError(item)
            pairs.append((name, f))
        return tuple(pairs)
    if field.name == "trainable_groups":
        groups = tuple(g for g in raw.split(",") if g)
        if not all(g.isidentifier() for g in groups):
            raise ValueError(raw)
        return groups
    if isinstance(default, bool):
        if raw.lower() not in ("true", "false"):
            raise ValueError(raw)
        return raw.lower() == "true"
    if isinstance(default, int) or "int" in typ:
        return int(raw)
    if isinstance(default, float):
        f = float(raw)
        if not math.isfinite(f):
            raise ValueError(raw)
        return f
    return raw


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
            values[key] = _convert(fields[key], raw)
        except (ValueError, TypeError):
            notices.append(f"ignored {key}={raw[:40]!r}: not a valid value; using the default")
    cfg = RunConfig()
    for key, val in values.items():  # one at a time, so one bad field does not sink the rest
        try:
            cfg = cfg.replace(**{key: val})
        except (ValueError, TypeError) as e:
            notices.append(f"ignored {key}={val!r}: {e}")
    return cfg, notices
