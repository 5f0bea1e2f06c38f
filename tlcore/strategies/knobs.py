"""A strategy's settings, declared once in the strategy's own file.

Every place that offers or checks a setting reads these declarations: the Train page
draws a widget per knob of the chosen strategies, the CLI's ``--set`` help lists them,
a link's ``extra`` is clipped to their ranges, and ``check`` refuses a config whose
value is out of range or names a setting its strategy does not have. So adding a
strategy with a knob is one file: nothing else lists knob names.

Values live in ``RunConfig.extra`` as ``(name, float)`` pairs (only the ones set away
from their default, so a config without a knob keeps the run id it always had). Two
older knobs, ``top_k`` and ``probe_epochs``, are ``RunConfig`` fields of their own; their
declarations say so with ``field`` and every reader goes through ``Knob.read``, so the
field's run ids stay as they were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tlcore.config import RunConfig

KINDS = ("int", "float", "bool")


@dataclass(frozen=True)
class Knob:
    """One setting: ``name`` (a Python identifier, the key in ``RunConfig.extra``), its
    ``kind``, ``default``, inclusive range ``low..high`` and a one-line ``help``.

    ``groups``: the value counts body layer groups, so it is also at most the backbone's
    number of them (checked when the run starts; ``high`` is the limit without a backbone).
    ``field``: the ``RunConfig`` field that stores it instead of ``extra``.
    """

    name: str
    kind: str
    default: float
    low: float
    high: float
    help: str
    groups: bool = False
    field: str | None = None
    label: str = ""  # a widget's label; the name with spaces when empty

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"knob name {self.name!r} must be an identifier")
        if self.kind not in KINDS:
            raise ValueError(f"knob {self.name}: kind must be one of {', '.join(KINDS)}")
        if self.kind == "bool" and (self.low, self.high) != (0, 1):
            raise ValueError(f"knob {self.name}: a bool knob ranges over 0 and 1")
        if not self.low <= self.default <= self.high:
            raise ValueError(f"knob {self.name}: default {self.default} is outside {self.low}..{self.high}")

    def raw(self, cfg: RunConfig) -> float:
        """The number the config holds (the default when it holds none)."""
        if self.field:
            return float(getattr(cfg, self.field))
        return float(dict(cfg.extra).get(self.name, self.default))

    def read(self, cfg: RunConfig):
        """The config's value as its kind (``int``, ``float`` or ``bool``); checked."""
        return self.cast(self.check(self.raw(cfg)))

    def cast(self, value: float):
        return {"int": int, "float": float, "bool": bool}[self.kind](value)

    def check(self, value: float, n_groups: int | None = None) -> float:
        """``value`` if it is allowed, else a ``ValueError`` that says what is."""
        high = min(self.high, n_groups) if self.groups and n_groups is not None else self.high
        whole = self.kind in ("int", "bool")
        if not math.isfinite(value) or (whole and value != int(value)) or not self.low <= value <= high:
            what = "0 or 1" if self.kind == "bool" else (
                f"a whole number from {_num(self.low)} to {_num(high)}" if whole
                else f"a number from {_num(self.low)} to {_num(high)}")
            groups = f" (this backbone has {n_groups} body groups)" if self.groups and n_groups is not None else ""
            raise ValueError(f"{self.name} ({self.help}) must be {what}{groups}; got {_num(value)}")
        return value

    def clip(self, value: float) -> float:
        """The nearest allowed value (a link's out-of-range number is brought into range)."""
        v = min(max(value, self.low), self.high)
        return float(round(v)) if self.kind in ("int", "bool") else v

    def describe(self) -> str:
        """``name=default (low..high): help`` for command-line help."""
        rng = "0|1" if self.kind == "bool" else f"{_num(self.low)}..{_num(self.high)}"
        return f"{self.name}={_num(self.default)} ({rng}): {self.help}"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def changes(cfg: RunConfig, knob: Knob, value: float) -> dict:
    """The ``RunConfig`` fields that set ``knob`` to ``value`` in ``cfg``. A value equal to the
    default is left out of ``extra``, so the run id matches a config that never mentioned it."""
    if knob.field:
        return {knob.field: knob.cast(value)}
    extra = {k: v for k, v in cfg.extra if k != knob.name}
    if float(value) != float(knob.default):
        extra[knob.name] = float(value)
    return {"extra": tuple(sorted(extra.items()))}


def with_value(cfg: RunConfig, knob: Knob, value: float) -> RunConfig:
    """``cfg`` with ``knob`` set to ``value`` (see ``changes``)."""
    return cfg.replace(**changes(cfg, knob, value))


def parse_settings(items) -> dict[str, float]:
    """``["dann_weight=0.5", ...]`` (the CLI's repeatable ``--set``) as a dict of numbers."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or not key.strip().isidentifier() or number is None:
            raise ValueError(f"--set takes NAME=NUMBER (e.g. dann_weight=0.5), not {item!r}")
        out[key.strip()] = number
    return out


def apply_settings(cfg: RunConfig, settings: dict[str, float], strategies) -> RunConfig:
    """``cfg`` with each setting given to the first of ``strategies`` that declares it;
    a name none of them has is refused with the names they do have."""
    for name, value in settings.items():
        knob = next((k for s in strategies for k in s.knobs if k.name == name), None)
        if knob is None:
            have = sorted({k.name for s in strategies for k in s.knobs})
            names = ", ".join(s.name for s in strategies)
            raise ValueError(f"{names} has no setting {name!r}; settings: {', '.join(have) or '(none)'}")
        cfg = with_value(cfg, knob, knob.check(value))
    return cfg


def settings_help(strategies) -> str:
    """One line per strategy with knobs: what ``--set`` accepts, from the declarations."""
    return "; ".join(f"{s.name}: " + ", ".join(k.describe() for k in s.knobs) for s in strategies if s.knobs)
