"""A sweep: a search space over ``RunConfig`` fields and strategy settings, planned into
trial configs before anything trains.

A dimension is a field (``lr``, ``top_k``, ``bn_policy``, ``backbone``, ...) or a strategy
setting declared by a knob (``dann_weight``), with either a list of values (a grid axis,
or a categorical choice for random search) or a numeric range ``low:high`` (``:log`` for
log-uniform). Every trial config is built and checked while planning, so an unknown field,
a value ``RunConfig`` or the strategy refuses, or an empty space is one clear line before
any trial starts. Trials are plain run configs: the store answers "already run?" by id,
so a sweep run twice trains nothing twice, and an interrupted one resumes.

The metric a sweep optimises is never a test set's: picking the best of many runs on the
test split (or the target's labels) reports an optimistic number for the winner.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from tlcore.config import RunConfig
from tlcore.registry import Registry

POINTS = 8  # random draws and TPE points when a sweep does not say
SEARCHES = ("grid", "random", "tpe")  # tpe: tlcore.sweep_tpe (Optuna) picks points as results come
# RunConfig fields a sweep may not vary: seeds have their own option, the rest are not numbers
# or names a flag can carry (a custom freeze plan, per-group multipliers, the settings tuple)
NOT_SWEPT = {"seed": "use --seeds", "device": "a sweep runs on one device",
             "extra": "name the setting itself (e.g. dann_weight)",
             "lr_mults": "not a single value", "trainable_groups": "not a single value"}


@dataclass(frozen=True)
class Metric:
    """What a sweep ranks trials by: ``read(record)`` gives the number (None when the run
    has none), ``higher`` whether bigger is better."""

    name: str
    help: str
    higher: bool
    read: Callable


def _last(key: str):
    return lambda rec: rec.history[-1][key] if rec.history and key in rec.history[-1] else None


METRICS: Registry[Metric] = Registry("metric")
METRICS.add(Metric("val_accuracy", "source validation accuracy after the last epoch", True,
                   lambda rec: rec.metrics.get("val_accuracy")))
METRICS.add(Metric("best_val_accuracy", "the best source validation accuracy of any epoch", True,
                   lambda rec: max((h["val_acc"] for h in rec.history if "val_acc" in h), default=None)))
METRICS.add(Metric("val_loss", "source validation loss after the last epoch", False, _last("val_loss")))
FORBIDDEN = {"test_accuracy": "the test split", "test_loss": "the test split",
             "target_accuracy": "the target's labels", "target_loss": "the target's labels"}


def metric(name: str) -> Metric:
    if name in FORBIDDEN:
        raise ValueError(f"a sweep may not pick by {name}: choosing the best of many runs on "
                         f"{FORBIDDEN[name]} makes the winner's number optimistic. Use one of "
                         f"{', '.join(METRICS.names())}")
    if name not in METRICS:
        raise ValueError(f"no metric {name!r}; metrics: {', '.join(METRICS.names())}")
    return METRICS.get(name)


@dataclass(frozen=True)
class Dim:
    """One axis: ``values`` (grid / choice) or ``low``..``high`` (random only)."""

    name: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    log: bool = False

    @property
    def is_range(self) -> bool:
        return self.low is not None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"values": list(self.values)}

    @classmethod
    def from_dict(cls, d: dict) -> Dim:
        return cls(name=d["name"], values=tuple(d.get("values", ())), low=d.get("low"), high=d.get("high"),
                   log=bool(d.get("log", False)))


def _fields() -> dict[str, str]:
    """Sweepable RunConfig fields and their annotated types (strings: postponed annotations)."""
    return {f.name: str(f.type) for f in dataclasses.fields(RunConfig) if f.name not in NOT_SWEPT}


def _knobs() -> dict:
    from tlcore.strategies import all_knobs

    return {n: k for n, k in all_knobs().items() if not k.field}  # field knobs are fields


def known_names() -> list[str]:
    return sorted(_fields()) + sorted(_knobs())


def _kind(name: str) -> str:
    """``int``, ``float``, ``bool``, ``str`` or ``budget`` (labels per class: 0/all = None)."""
    if name == "labels_per_class":
        return "budget"
    if name in _knobs():
        return _knobs()[name].kind
    t = _fields().get(name)
    if t is None:
        hint = f" ({NOT_SWEPT[name]})" if name in NOT_SWEPT else ""
        raise ValueError(f"cannot sweep {name!r}{hint}; fields and settings: {', '.join(known_names())}")
    return next((k for k in ("bool", "int", "float") if t.startswith(k)), "str")


def _value(name: str, text: str):
    kind, t = _kind(name), text.strip()
    try:
        if kind == "budget":
            return None if t.lower() in ("0", "all") else int(t)
        if kind == "bool":
            if t.lower() not in ("0", "1", "true", "false"):
                raise ValueError
            return t.lower() in ("1", "true")
        if kind in ("int", "float"):
            v = float(t)
            if kind == "int" and v != int(v):
                raise ValueError
            return int(v) if kind == "int" else v
    except ValueError:
        raise ValueError(f"{name} takes {'a whole number' if kind in ('int', 'budget') else kind} "
                         f"values, not {text!r}") from None
    if not t:
        raise ValueError(f"{name}: an empty value")
    return None if t.lower() == "none" and _fields().get(name, "").endswith("None") else t


def parse_dim(text: str) -> Dim:
    """``FIELD=V1,V2,...`` (values) or ``FIELD=LOW:HIGH[:log]`` (a numeric range)."""
    name, sep, rest = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name or not rest.strip():
        raise ValueError(f"a dimension is FIELD=V1,V2,... or FIELD=LOW:HIGH[:log], not {text!r}")
    kind = _kind(name)
    if ":" in rest and kind in ("int", "float"):
        parts = [p.strip() for p in rest.split(":")]
        log = parts[-1] == "log"
        if log:
            parts = parts[:-1]
        if len(parts) != 2:
            raise ValueError(f"{name}: a range is LOW:HIGH or LOW:HIGH:log, not {rest!r}")
        low, high = (float(_value(name, p)) for p in parts)
        if not low < high or (log and low <= 0):
            raise ValueError(f"{name}: the range {rest!r} is empty" + (" or not positive (log)" if log else ""))
        return Dim(name, low=low, high=high, log=log)
    values = tuple(_value(name, v) for v in rest.split(","))
    if len(set(values)) != len(values):
        raise ValueError(f"{name}: a value is given twice in {rest!r}")
    return Dim(name, values=values)


SPACE_KEYS = ("grid", "random", "search", "trials", "seeds", "metric", "search_seed")


def read_space(path: str) -> dict:
    """A space file (JSON, or YAML when PyYAML is installed), e.g.
    ``{"grid": {"lr": [0.01, 0.001], "top_k": [1, 2]}, "random": {"backbone_lr_mult":
    "0.01:1:log"}, "search": "random", "trials": 8, "seeds": [0, 1]}``; returned with
    ``grid`` and ``random`` as the command line's ``FIELD=...`` strings."""
    from pathlib import Path

    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ValueError(f"cannot read the space file {path}: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        try:
            import yaml
        except ImportError:
            raise ValueError(f"{path} is not JSON ({e}); YAML needs PyYAML (pip install pyyaml)") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as ye:
            raise ValueError(f"{path} is neither JSON nor YAML: {ye}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a space file is a mapping with {', '.join(SPACE_KEYS)}")
    if unknown := sorted(set(data) - set(SPACE_KEYS)):
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}; a space file has {', '.join(SPACE_KEYS)}")
    out = dict(data)
    for key in ("grid", "random"):
        dims = data.get(key) or {}
        if not isinstance(dims, dict):
            raise ValueError(f"{path}: {key} maps each field to its {'values' if key == 'grid' else 'LOW:HIGH'}")
        if key == "grid":
            out[key] = [f"{k}=" + ",".join("all" if v is None else str(v) for v in
                                           (vs if isinstance(vs, list) else [vs])) for k, vs in dims.items()]
        else:
            out[key] = [f"{k}={v}" for k, v in dims.items()]
    return out


@dataclass(frozen=True)
class SweepSpec:
    """Everything that decides which trials a sweep trains. ``trials``: the number of random
    points, or a cap on the grid's; ``seeds`` repeat every point."""

    base: RunConfig
    dims: tuple[Dim, ...]
    search: str = "grid"
    trials: int | None = None
    seeds: tuple[int, ...] = (0,)
    metric: str = "val_accuracy"
    search_seed: int = 0

    def to_dict(self) -> dict:
        return {"base": self.base.to_dict(), "dims": [d.to_dict() for d in self.dims], "search": self.search,
                "trials": self.trials, "seeds": list(self.seeds), "metric": self.metric,
                "search_seed": self.search_seed}

    @classmethod
    def from_dict(cls, d: dict) -> SweepSpec:
        """The spec ``to_dict`` stored (``Store.add_sweep``): a past sweep, to draw again."""
        return cls(base=RunConfig.from_dict(d["base"]), dims=tuple(Dim.from_dict(x) for x in d["dims"]),
                   search=d.get("search", "grid"), trials=d.get("trials"), seeds=tuple(d.get("seeds", (0,))),
                   metric=d.get("metric", "val_accuracy"), search_seed=d.get("search_seed", 0))

    def points(self) -> int:
        """How many points random draws and TPE try (``trials``, else ``POINTS``)."""
        return self.trials or POINTS

    def most_runs(self) -> int:
        """The most runs a TPE search makes: each of its points with each seed."""
        return self.points() * len(self.seeds)

    def sweep_id(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return "sw-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def _points(spec: SweepSpec) -> list[dict]:
    if spec.search == "grid":
        ranged = [d.name for d in spec.dims if d.is_range]
        if ranged:
            raise ValueError(f"a grid needs values, not a range, for {', '.join(ranged)} (or use --search random)")
        grid = [dict(zip([d.name for d in spec.dims], combo, strict=True))
                for combo in itertools.product(*(d.values for d in spec.dims))]
        return grid[:spec.trials] if spec.trials else grid
    rng = random.Random(spec.search_seed)

    def draw(d: Dim):
        if not d.is_range:
            return rng.choice(d.values)
        u = rng.random()
        v = math.exp(math.log(d.low) + u * (math.log(d.high) - math.log(d.low))) if d.log else d.low + u * (d.high - d.low)
        return round(v) if _kind(d.name) == "int" else float(f"{v:.4g}")  # short, stable ids

    return [{d.name: draw(d) for d in spec.dims} for _ in range(spec.points())]


def _apply(base: RunConfig, point: dict, seed: int) -> RunConfig:
    from tlcore.models import group_names
    from tlcore.strategies import STRATEGIES
    from tlcore.strategies.knobs import with_value

    fields = {k: v for k, v in point.items() if k not in _knobs()}
    cfg = base.replace(**fields, seed=seed)
    for name, value in point.items():
        if name in _knobs():
            cfg = with_value(cfg, _knobs()[name], float(value))
    strategy = STRATEGIES.get(cfg.strategy)
    cfg = strategy.own_settings(cfg)  # a setting another strategy declares means nothing here
    strategy.check(cfg, list(group_names(cfg.backbone)))
    return cfg


def _check_knobs(spec: SweepSpec, cfgs: list[RunConfig]) -> None:
    """A swept setting that none of the trials' strategies has would give identical runs."""
    from tlcore.strategies import STRATEGIES

    used = {c.strategy for c in cfgs}
    for d in spec.dims:
        if d.name in _knobs() and not any(d.name in {k.name for k in STRATEGIES.get(s).knobs} for s in used):
            has = [s.name for s in STRATEGIES if d.name in {k.name for k in s.knobs}]
            raise ValueError(f"{d.name} is a setting of {', '.join(has)}, and this sweep trains "
                             f"{', '.join(sorted(used))}: set --strategy (or --grid strategy=...) to one that has it")


def check_search(spec: SweepSpec) -> None:
    """A TPE sweep has no fixed plan (each point follows from the scores before it): check
    its space by planning random draws over it and both ends of every range instead."""
    if spec.search != "tpe":
        plan(spec)
        return
    probe = dataclasses.replace(spec, search="random", trials=16)
    plan(probe)
    ends = [Dim(d.name, values=(d.low, d.high) if _kind(d.name) != "int" else (int(d.low), int(d.high)))
            if d.is_range else d for d in spec.dims]
    plan(dataclasses.replace(spec, search="grid", dims=tuple(ends), trials=None))


def plan(spec: SweepSpec) -> list[RunConfig]:
    """The trial configs, in order, each built and checked; points that are the same run (a
    setting its strategy does not have) are kept once. ``ValueError`` names what is wrong."""
    from tlcore.data.domains import parse_domain
    from tlcore.models import get_spec

    metric(spec.metric)
    if spec.search == "tpe":
        raise ValueError("a TPE search has no fixed plan: check it with check_search, run it with "
                         "tlcore.sweep_tpe.TPESource")
    if spec.search not in SEARCHES:
        raise ValueError(f"search must be one of {', '.join(SEARCHES)}, not {spec.search!r}")
    if not spec.dims:
        raise ValueError("the space is empty: give at least one dimension (e.g. --grid lr=0.01,0.001)")
    names = [d.name for d in spec.dims]
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"{', '.join(twice)} is given twice: give each field one set of values")
    if spec.trials is not None and spec.trials < 1:
        raise ValueError("--trials must be at least 1")
    if not spec.seeds:
        raise ValueError("give at least one seed")
    out: dict[str, RunConfig] = {}
    for point in _points(spec):
        for seed in spec.seeds:
            try:
                cfg = _apply(spec.base, point, seed)
                get_spec(cfg.backbone)
                parse_domain(cfg.dataset)
                if cfg.target:
                    parse_domain(cfg.target)
            except (ValueError, KeyError, TypeError) as e:
                where = ", ".join(f"{k}={v}" for k, v in point.items())
                raise ValueError(f"the trial {where} cannot run: {e.args[0] if e.args else e}") from None
            out.setdefault(cfg.run_id(), cfg)
    cfgs = list(out.values())
    _check_knobs(spec, cfgs)
    return cfgs


def describe(cfg: RunConfig, dims: tuple[Dim, ...]) -> str:
    """The trial's swept values, e.g. ``lr=0.01 top_k=2``."""
    from tlcore.strategies import STRATEGIES

    knobs = _knobs()
    parts = []
    for d in dims:
        if d.name in knobs:
            own = d.name in {k.name for k in STRATEGIES.get(cfg.strategy).knobs}
            v = knobs[d.name].raw(cfg) if own else "-"  # not this strategy's setting
        else:
            v = getattr(cfg, d.name)
        v = "all" if d.name == "labels_per_class" and v is None else v
        parts.append(f"{d.name}={v:g}" if isinstance(v, float) else f"{d.name}={v}")
    return " ".join(parts)


def best(records, metric_name: str):
    """The finished record with the best metric (None when none has one)."""
    m = metric(metric_name)
    scored = [(v, r) for r in records if r.status == "done" and (v := m.read(r)) is not None]
    if not scored:
        return None
    return (max if m.higher else min)(scored, key=lambda p: p[0])[1]


def trial_row(i: int, cfg: RunConfig, rec, spec: SweepSpec, status: str | None = None) -> dict:
    """One trial as the CLI's JSON and the page's table show it: its swept ``values``,
    ``status``, accuracy/loss ``metrics``, the ranking ``score`` (done trials only)."""
    return {"trial": i, "run_id": cfg.run_id(), "values": describe(cfg, spec.dims), "config": cfg.to_dict(),
            "status": status or (rec.status if rec else "not started"),
            "metrics": {k: v for k, v in (rec.metrics if rec else {}).items() if k.endswith(("accuracy", "loss"))},
            "score": metric(spec.metric).read(rec) if rec and rec.status == "done" else None,
            "seconds": rec.seconds if rec else None}


def ranked(rows: list[dict], metric_name: str) -> list[dict]:
    """``rows`` best first by their score (unscored last)."""
    sign = -1 if metric(metric_name).higher else 1
    return sorted(rows, key=lambda r: (r["score"] is None, sign * (r["score"] or 0)))


def matters(cfg: RunConfig, name: str) -> bool:
    """Whether field ``name`` can change a run of ``cfg``'s strategy: the backbone's LR
    multiplier only when some phase trains a body group at it, the BatchNorm policy only
    when some phase leaves a group frozen, a strategy setting only for its strategy. A
    sweep over a field that does not matter trains the same run under new ids."""
    from tlcore.strategies import STRATEGIES

    strategy = STRATEGIES.get(cfg.strategy)
    if name in _knobs() or name == "top_k" or name == "probe_epochs":
        return name in {k.name for k in strategy.knobs}
    if name not in ("backbone_lr_mult", "bn_policy"):
        return True
    from tlcore.models import group_names

    groups = list(group_names(cfg.backbone))
    body = [g for g in groups if g != "head"]
    phases = [strategy.phase(groups, cfg, e) for e in range(cfg.epochs)]
    if name == "backbone_lr_mult":
        return any(p.discriminative and set(p.trainable) & set(body) for p in phases)
    return any(set(body) - set(p.trainable) for p in phases)


def noise(n_val: int, accuracy: float) -> float:
    """About two standard errors of an accuracy measured on ``n_val`` images: differences
    between trials smaller than this are within the validation split's noise."""
    return 2 * math.sqrt(max(accuracy * (1 - accuracy), 1e-4) / max(n_val, 1))

