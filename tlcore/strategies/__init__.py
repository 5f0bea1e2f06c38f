"""Strategy registry: one file per strategy, all run by the same trainer.

Every module in this folder is imported here, and each registers its own strategy, so a
new strategy is one new file (``base.py`` says what it defines). Listings follow each
strategy's ``order``.
"""

import importlib
import pkgutil

from .base import STRATEGIES, StepContext, Strategy, title
from .knobs import Knob

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_m}")
STRATEGIES.sort(key=lambda s: (s.order, s.name))


def all_knobs() -> dict[str, Knob]:
    """Every registered strategy's settings by name. A setup carries the settings of all
    the strategies it may queue (each run keeps its own: ``Strategy.own_settings``), so a
    name means one thing everywhere: two different declarations of one name are refused."""
    out: dict[str, Knob] = {}
    for s in STRATEGIES:
        for k in s.knobs:
            if out.setdefault(k.name, k) != k:
                raise ValueError(f"setting {k.name!r} is declared differently by two strategies")
    return out


__all__ = ["STRATEGIES", "Knob", "StepContext", "Strategy", "all_knobs", "title"]
