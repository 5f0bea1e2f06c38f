"""Presets: load a ready-made setup over the user's own, saying first what it changes.

A one-click setting (the Domain adaptation page's MNIST -> MNIST-M reproduction, a
lesson's step) used to replace the whole setup silently. Here a preset is either a whole
``RunConfig`` (every field is named) or a ``dict`` of the fields it names; ``apply`` puts
it over the current setup and then keeps the result consistent, and ``changes`` lists, in
words a person reads, what ``apply`` would change, so a page can ask before and undo
after (``ui.presets``).

Consistency rules (each change a rule makes says why):

- a target left over from the old setup is cleared when its number of classes differs
  from the new source's (a run needs the same classes on both sides: ``tlcore.rundata``);
- the strategy changes only when the preset names one; a strategy that needs a target is
  not left without one (it falls back to ``RunConfig``'s default, feature extraction).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tlcore.config import RunConfig

FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig))
# What each field is called where a person reads it (a test checks every field has one).
TITLES = {
    "backbone": "backbone", "weights": "weights", "input_size": "input size",
    "dataset": "source dataset", "target": "target domain", "strategy": "strategy",
    "labels_per_class": "labels per class", "val_per_class": "validation images per class",
    "test_per_class": "test images per class", "epochs": "epochs", "batch_size": "batch size",
    "lr": "learning rate", "backbone_lr_mult": "backbone LR multiplier",
    "lr_mults": "per-group LR multipliers", "weight_decay": "weight decay",
    "optimizer": "optimizer", "schedule": "LR schedule", "bn_policy": "BatchNorm policy",
    "top_k": "groups fine-tuned (top k)", "trainable_groups": "trainable groups (custom plan)",
    "probe_epochs": "linear-probe epochs", "augment": "augmentation", "seed": "seed",
    "device": "device", "extra": "strategy settings",
}


@dataclass(frozen=True)
class Change:
    """One field a preset changes: its title, the value before and after (as text), the
    ``RunConfig`` field name, and why when a consistency rule (not the preset) made it."""

    field: str
    before: str
    after: str
    key: str
    why: str = ""

    def __str__(self) -> str:
        return f"{self.field}: {self.before} → {self.after}" + (f" ({self.why})" if self.why else "")


def named(preset: RunConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The fields a preset sets: all of a ``RunConfig``, the keys of a dict (checked)."""
    if isinstance(preset, RunConfig):
        return {k: getattr(preset, k) for k in FIELDS}
    unknown = set(preset) - set(FIELDS)
    if unknown:
        raise ValueError(f"a preset may only name setup fields; unknown: {', '.join(sorted(unknown))}")
    return dict(preset)


def setting(cfg: RunConfig, keep: tuple[str, ...] = ("seed", "strategy")) -> dict[str, Any]:
    """A whole setup as a preset that leaves ``keep`` to the user: the seed they chose, and
    the strategy, which belongs to the Train page (a study page picks its own methods)."""
    return {k: v for k, v in named(cfg).items() if k not in keep}


def from_link(params: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """A link's (or lesson step's) setup as a preset, with the link parser's notices.

    Like opening the link, fields it leaves out go back to their defaults (a lesson's
    numbers were measured that way), except the strategy, which changes only if named."""
    from tlcore.urlstate import config_from_params

    cfg, notices = config_from_params(dict(params))
    return setting(cfg, keep=() if "strategy" in params else ("strategy",)), notices


def num_classes(domain: str) -> int | None:
    """How many classes a domain has, cheaply: from the registry or an upload's sidecar;
    None when that needs loading the images (a folder that is not one of our uploads)."""
    from tlcore.data import DATASETS, parse_domain
    from tlcore.preview import upload_info

    try:
        base = parse_domain(domain).dataset
    except ValueError:
        return None
    if base in DATASETS:
        return DATASETS.get(base).num_classes
    info = upload_info(base)
    return len(info["classes"]) if info and "classes" in info else None


def _needs_target(strategy: str) -> bool:
    from tlcore.strategies import STRATEGIES

    return strategy in STRATEGIES and STRATEGIES.get(strategy).requires_target


def _resolve(current: RunConfig, preset: RunConfig | Mapping[str, Any]) -> tuple[RunConfig, dict[str, str]]:
    """The new setup and, per field a rule changed, why."""
    sets = named(preset)
    cfg = current.replace(**sets)  # the config's own checks raise ValueError for bad values
    why: dict[str, str] = {}
    if cfg.target and "target" not in sets:
        src, tgt = num_classes(cfg.dataset), num_classes(cfg.target)
        if src is not None and tgt is not None and src != tgt:
            cfg = cfg.replace(target=None)
            why["target"] = f"it has {tgt} classes and the new source {src}"
    if not cfg.target and _needs_target(cfg.strategy):
        if "strategy" in sets:
            raise ValueError(f"the preset's strategy {cfg.strategy!r} needs a target domain, "
                             "and the preset leaves none")
        default = RunConfig().strategy
        why["strategy"] = f"{_strategy_title(cfg.strategy)} needs a target domain"
        cfg = cfg.replace(strategy=default)
    return cfg, why


def apply(current: RunConfig, preset: RunConfig | Mapping[str, Any]) -> RunConfig:
    """``current`` with the preset's fields, made consistent (see the module docstring)."""
    return _resolve(current, preset)[0]


def changes(current: RunConfig, preset: RunConfig | Mapping[str, Any]) -> list[Change]:
    """What ``apply(current, preset)`` changes, in ``RunConfig`` field order; [] for none."""
    new, why = _resolve(current, preset)
    return diff(current, new, why)


def diff(before: RunConfig, after: RunConfig, why: Mapping[str, str] | None = None) -> list[Change]:
    """The fields that differ between two setups, as ``Change`` rows."""
    why = why or {}
    return [Change(TITLES[k], describe(k, getattr(before, k)), describe(k, getattr(after, k)), k,
                   why.get(k, "")) for k in FIELDS if getattr(before, k) != getattr(after, k)]


def summary(rows: list[Change], limit: int = 3) -> str:
    """One line for a list of changes: the first few fields by title, then how many more."""
    if not rows:
        return "no changes"
    names = [c.field for c in rows[:limit]]
    more = len(rows) - len(names)
    return ", ".join(names) + (f" and {more} more" if more else "")


def _strategy_title(name: str) -> str:
    from tlcore.strategies import title

    return title(name)


def _domain(text: str) -> str:
    """A domain as a person knows it: the dataset's title or an upload's own file name,
    then its shifts (``MNIST, rotate 3``)."""
    from tlcore.data import DATASETS, parse_domain
    from tlcore.preview import upload_info

    try:
        spec = parse_domain(text)
    except ValueError:
        return text
    if spec.dataset in DATASETS:
        name = DATASETS.get(spec.dataset).title
    else:
        info = upload_info(spec.dataset)
        name = info["filename"] if info and info.get("filename") else spec.dataset
    return ", ".join([name] + [f"{n} {s}" for n, s in spec.shifts])


def describe(key: str, value: Any) -> str:
    """A field's value in words (``None`` says what it means for that field)."""
    if key in ("dataset", "target"):
        return _domain(value) if value else "none"
    if key == "strategy":
        return _strategy_title(value)
    if value is None:
        return {"weights": "the backbone's pretrained weights", "input_size": "the backbone's own",
                "labels_per_class": "all", "trainable_groups": "none chosen"}.get(key, "default")
    if key == "weights" and value == "none":
        return "random (no pretraining)"
    if isinstance(value, bool):
        return "on" if value else "off"
    if key == "extra":  # each setting by the title its strategy declares
        from tlcore.strategies import all_knobs

        knobs = all_knobs()
        return ", ".join(f"{knobs[a].title if a in knobs else a} {b:g}" for a, b in value) or "none"
    if key == "lr_mults":
        return ", ".join(f"{a} {b:g}" for a, b in value) or "none"
    if key == "trainable_groups":
        return ", ".join(value) or "head only"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
