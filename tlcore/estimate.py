"""Before a run: what its freeze plan trains, and how long it will take on this machine.

``plan(cfg)`` walks the strategy's phases over the run's epochs on a built network, with
the freeze module's own ``apply_phase`` / ``frozen_prefix``, so the numbers the Model page
shows (trainable parameters, the fast-path cut) are the trainer's, not a re-derivation.

``estimate_seconds(cfg)`` measures instead of guessing: it builds the backbone, times a
few optimizer steps on one random batch at the config's input size and freeze plan, and
extrapolates the way the trainer spends its time (``tlcore.train.run``):

* preparing the (in-memory) data, building the backbone with the weights the run loads,
  preprocessing every image once;
* the frozen prefix (the fast path) computed once per cut over train + val + test
  (+ target) images, after which each step runs only the trainable groups;
* ``epochs x batches`` optimizer steps (fused Adam, as the trainer; adaptation strategies
  with their target batch and loss); validation (and target) evaluation every epoch;
  test evaluation plus feature extraction for the embeddings at the end;
* with a target domain: the first pass of the whole network over test + target, the
  per-epoch feature snapshots and their A-distances, and A-distance + MMD before and after.

Every measurement is cached (``_PROBES``) under what determines it: backbone, size,
classes, the set of trainable groups and BatchNorm policy of each phase, batch size, train
size; never the strategy's name. Two spellings of one plan ("fine-tune top 2" and a custom
plan ticking the same groups) therefore get the same estimate; before this they were timed
separately and the probe's noise alone put them ~30% apart (issue #12). ``tlcore.jobs.
estimate_run`` adds the store writes a worker makes; the worker records that estimate
beside each run's real seconds and ``estimate_track_record`` summarises how far off they
were.

It assumes a cold feature cache and an already-loaded dataset: a repeat of a pretrained
run reads its frozen features from disk and is faster. Both functions build the network
with random weights; shapes, parameter counts and timings do not depend on the values
of the weights, and the page must work while pretrained files are missing.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch

from tlcore.config import RunConfig
from tlcore.data import DATASETS, DomainSpec, load_domain, parse_domain
from tlcore.features import MAX_CACHE_BYTES
from tlcore.freeze import (
    Phase,
    apply_phase,
    frozen_prefix,
    param_groups,
    set_modes,
    trainable_count,
)
from tlcore.models import BACKBONES, GroupedNet, GroupInfo, build_backbone
from tlcore.optim import build_optimizer
from tlcore.rundata import RunData, prepare
from tlcore.strategies import STRATEGIES, StepContext
from tlcore.strategies.adaptation import AdaptationStrategy


@dataclass(frozen=True)
class PhaseInfo:
    """One stretch of epochs with the same freeze plan."""

    first_epoch: int  # 1-based, inclusive
    last_epoch: int
    trainable: tuple[str, ...]  # groups that train (at least partly), in network order
    description: str  # ``Phase.describe``: "block3, head", "biases + head", ...
    trainable_params: int
    frozen_prefix: int  # leading groups computed once (0: no fast path)


@dataclass(frozen=True)
class Plan:
    groups: tuple[GroupInfo, ...]  # head included, with this run's class count
    phases: tuple[PhaseInfo, ...]
    total_params: int
    num_classes: int


def domain_classes(text: str) -> int:
    """Class count of a domain without loading a registered dataset's images."""
    spec = parse_domain(text)
    if not spec.is_path:
        return DATASETS.get(spec.dataset).num_classes
    return load_domain(DomainSpec(spec.dataset)).num_classes


def _net(cfg: RunConfig, num_classes: int):
    bb = build_backbone(cfg.backbone, weights="none", input_size=cfg.input_size)
    bb.net.reset_head(num_classes, seed=0)
    return bb


def _phases(net: GroupedNet, cfg: RunConfig) -> list[tuple[int, int, Phase]]:
    """(first epoch, last epoch, phase), 0-based, merging epochs with equal phases."""
    return _phases_for(net.group_names, cfg)


def _phases_for(groups: list[str], cfg: RunConfig) -> list[tuple[int, int, Phase]]:
    strategy = STRATEGIES.get(cfg.strategy)
    out: list[tuple[int, int, Phase]] = []
    for epoch in range(cfg.epochs):
        phase = strategy.phase(groups, cfg, epoch)
        if out and out[-1][2] == phase:
            out[-1] = (out[-1][0], epoch, phase)
        else:
            out.append((epoch, epoch, phase))
    return out


def plan(cfg: RunConfig) -> Plan:
    """Layer groups and, per phase, what trains. ``ValueError`` for an invalid plan
    (e.g. custom groups this backbone does not have)."""
    n = domain_classes(cfg.dataset)
    bb = _net(cfg, n)
    net = bb.net
    infos = []
    for first, last, phase in _phases(net, cfg):
        apply_phase(net, phase, cfg.bn_policy)
        trains = tuple(g for g in net.group_names
                       if any(p.requires_grad for p in net.group(g).parameters()))
        infos.append(PhaseInfo(first + 1, last + 1, trains, phase.describe(net.group_names),
                               trainable_count(net), frozen_prefix(net, phase, cfg.bn_policy)))
    total = sum(p.numel() for p in net.parameters())
    return Plan(tuple(bb.groups()), tuple(infos), total, n)


def lr_multiplier(cfg: RunConfig, group: str) -> float:
    """The multiplier ``freeze.param_groups`` applies to ``group`` (discriminative phases)."""
    return dict(cfg.lr_mults).get(group, 1.0 if group == "head" else cfg.backbone_lr_mult)


def apply_edits(cfg: RunConfig, p: Plan, trains: dict[str, bool], mults: dict[str, float]) -> RunConfig:
    """The config after the user's per-group toggles and LR multipliers.

    Toggles that differ from the first phase's plan make a custom plan with exactly the
    ticked body groups (the head always trains). Multipliers equal to the default are not
    stored, so changing the backbone multiplier later still moves them.
    """
    groups = [g.name for g in p.groups]
    changes: dict = {}
    current = set(p.phases[0].trainable) if p.phases else {"head"}
    wanted = {g for g in groups if trains.get(g, g in current)} | {"head"}
    if wanted != current | {"head"}:
        changes.update(strategy="custom", trainable_groups=tuple(g for g in groups
                                                                 if g in wanted and g != "head"))
    pairs = []
    for g in groups:
        default = 1.0 if g == "head" else cfg.backbone_lr_mult
        m = float(mults.get(g, lr_multiplier(cfg, g)))
        if m != default:
            pairs.append((g, m))
    if tuple(pairs) != cfg.lr_mults:
        changes["lr_mults"] = tuple(pairs)
    return cfg.replace(**changes) if changes else cfg


def fit_to_backbone(cfg: RunConfig, groups: list[str]) -> RunConfig:
    """Drop custom groups and LR overrides the (new) backbone does not have, and keep
    ``top_k`` within its body, so switching backbones never leaves an invalid plan."""
    tg = None if cfg.trainable_groups is None else tuple(g for g in cfg.trainable_groups if g in groups)
    mults = tuple((g, m) for g, m in cfg.lr_mults if g in groups)
    top_k = max(1, min(cfg.top_k, len(groups) - 1))
    return cfg.replace(trainable_groups=tg, lr_mults=mults, top_k=top_k)


def timing_key(cfg: RunConfig) -> RunConfig:
    """``cfg`` with the fields that do not change how long a run takes reset, so a cache
    keyed on it survives edits of learning rates, seed or weights."""
    d = RunConfig()
    return cfg.replace(weights=None, lr=d.lr, backbone_lr_mult=d.backbone_lr_mult, lr_mults=(),
                       weight_decay=d.weight_decay, schedule=d.schedule, seed=0)


@dataclass(frozen=True)
class Estimate:
    """``seconds`` = sum of ``parts`` (what the time goes on); ``details``: the measured
    per-image / per-step costs and the counts they were multiplied by."""

    seconds: float
    parts: dict[str, float] = field(default_factory=dict)
    details: dict[str, float | int | str] = field(default_factory=dict)


# Measured costs, keyed by what determines them (never by how a freeze plan was spelled):
# two configs that train the same groups on the same data share their measurements, so
# their estimates agree, and a repeat (another seed, another LR) costs no new probe.
_PROBES: dict[tuple, object] = {}
_MAX_PROBES = 512


def clear_probes() -> None:
    """Forget every measurement (the next estimate times everything again)."""
    _PROBES.clear()


def _cached(key: tuple, measure):
    if key not in _PROBES:
        if len(_PROBES) >= _MAX_PROBES:
            _PROBES.pop(next(iter(_PROBES)))
        _PROBES[key] = measure()
    return _PROBES[key]


def _timed(fn, repeats: int) -> float:
    """Median wall time of ``fn`` after one warm-up call (first calls allocate)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _split_sizes(cfg: RunConfig, data: RunData, train_on_target: bool) -> dict[str, int]:
    """Images per split exactly as ``train._Inputs`` will hold them."""
    if train_on_target:  # the oracle trains on labelled target-pool images
        pool = torch.bincount(data.target.labels[data.target_pool], minlength=data.num_classes)
        train = int(pool.clamp(max=cfg.labels_per_class).sum()) if cfg.labels_per_class else int(pool.sum())
    else:
        train = len(data.splits.train)
    sizes = {"train": train, "val": len(data.splits.val), "test": len(data.splits.test)}
    if data.target is not None:
        sizes["target"] = len(data.target_test)
    return sizes


class _Probe:
    """The random-weight network and random uint8 batch the measurements run on, built
    only when a measurement is not cached yet. 64 probe images at 64 px, fewer at larger
    sizes (8 at 224 px), so a probe stays a few seconds."""

    def __init__(self, cfg: RunConfig, num_classes: int, native: tuple[int, ...]) -> None:
        self.cfg, self.num_classes, self.native = cfg, num_classes, native
        self._bb = None

    @property
    def bb(self):
        if self._bb is None:
            torch.manual_seed(0)
            self._bb = _net(self.cfg, self.num_classes)
            size = self._bb.preprocess.size
            self.n = max(8, min(64, int(64 * (64 / size) ** 2)))
            self.raw = torch.randint(0, 256, (self.n, *self.native), dtype=torch.uint8)
            self.x = self._bb.preprocess(self.raw)
        return self._bb

    def setup(self, strategy) -> tuple[float, float, str]:
        """(seconds to build the backbone as the run will, preprocessing seconds per image,
        which weights were timed)."""
        weights = strategy.weights(self.cfg)
        spec = BACKBONES.get(self.cfg.backbone)
        w = spec.weights.get(weights or spec.default_weights)
        if w is None or not w.check().available:
            weights = "none"  # still a build of the same network; loading a file costs a bit more
        t = time.perf_counter()
        build_backbone(self.cfg.backbone, weights=weights, input_size=self.cfg.input_size)
        build_s = time.perf_counter() - t
        bb = self.bb
        return build_s, _timed(lambda: bb.preprocess(self.raw), 3) / self.n, weights or spec.default_weights

    def phase_costs(self, phase: Phase, strategy, n_train: int, fast_path: bool, repeats: int) -> dict:
        """Per-image prefix and evaluation costs and per-step training cost of one phase, at
        the cut the trainer would use (``train.run``'s rule, including ``features.prefix_fits``)."""
        cfg, net = self.cfg, self.bb.net
        apply_phase(net, phase, cfg.bn_policy)
        if trainable_count(net) == 0:
            raise ValueError("this freeze plan leaves nothing to train; unfreeze at least the head")
        k = frozen_prefix(net, phase, cfg.bn_policy) if fast_path and not cfg.augment else 0
        with torch.no_grad():
            xk = net.eval().forward_features(self.x, 0, k)
        if k and xk[0].numel() * 4 * n_train > MAX_CACHE_BYTES:
            k, xk = 0, self.x
        with torch.no_grad():
            prefix = _timed(lambda: net.eval().forward_features(self.x, 0, k), repeats) / self.n if k else 0.0
            eval_img = _timed(lambda: net.eval().head(net.forward_features(xk, k)), repeats) / self.n
        step = self._step(phase, strategy, xk, k)
        set_modes(net, phase, cfg.bn_policy)
        return {"cut": k, "prefix": prefix, "eval": eval_img, "step": _timed(step, repeats)}

    def _step(self, phase: Phase, strategy, xk: torch.Tensor, k: int):
        """One optimizer step as ``train.run`` takes it: the strategy's own ``loss`` (for
        adaptation strategies a target batch drawn, preprocessed and passed through the frozen
        prefix) and the config's optimizer."""
        cfg, net, bs = self.cfg, self.bb.net, self.cfg.batch_size
        ctx = StepContext(net, cfg, torch.device("cpu"), torch.Generator().manual_seed(0), self.bb.preprocess,
                          k=k, progress=0.5)
        if isinstance(strategy, AdaptationStrategy):
            strategy.start(ctx, self.raw)
        pg = param_groups(net, phase, cfg)
        if ctx.aux is not None:
            pg.append({"params": list(ctx.aux.parameters()), "lr": cfg.lr})
        opt = build_optimizer(cfg.optimizer, pg, cfg.weight_decay, torch.device("cpu"))
        xb = xk.repeat(-(-bs // len(xk)), *[1] * (xk.ndim - 1))[:bs]
        y = torch.randint(0, self.num_classes, (bs,))

        def step() -> None:
            loss, _, _ = strategy.loss(ctx, xb, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()

        return step

    def full_eval(self) -> float:
        """Seconds per image of the whole network in eval mode (the target run's first pass)."""
        net = self.bb.net
        with torch.no_grad():
            return _timed(lambda: net.eval().forward_features(self.x, 0), 3) / self.n


def _domain_costs(dim: int, n_snap: int, n_test: int, n_target: int) -> tuple[float, float]:
    """Seconds of one proxy A-distance on the per-epoch snapshot sample and of one full
    ``evaluation.domain_measures`` (A-distance and MMD on every test image), on random
    features of the network's width whose domains differ by a shift, like real ones."""
    from tlcore.transfer.domain import mmd2, proxy_a_distance

    g = torch.Generator().manual_seed(0)
    fs, ft = torch.randn(max(n_snap, n_test), dim, generator=g), torch.randn(max(n_snap, n_target), dim,
                                                                          generator=g) + 0.3
    t = time.perf_counter()
    proxy_a_distance(fs[:n_snap].numpy(), ft[:n_snap].numpy())
    snap = time.perf_counter() - t
    t = time.perf_counter()
    proxy_a_distance(fs[:n_test].numpy(), ft[:n_target].numpy())
    mmd2(fs[:n_test].numpy(), ft[:n_target].numpy())
    return snap, time.perf_counter() - t


def _data(cfg: RunConfig) -> tuple[RunData, float]:
    """The run's data and the seconds ``prepare`` takes once it is in memory (the first
    load from disk is excluded: the app has usually loaded it, and a worker pays it once)."""
    data = prepare(cfg)

    def timed() -> float:
        t = time.perf_counter()
        prepare(cfg)
        return time.perf_counter() - t

    # keyed without the seed: another seed's split costs the same
    return data, _cached(("data", cfg.dataset, cfg.target, cfg.labels_per_class, cfg.val_per_class,
                          cfg.test_per_class), timed)


def estimate_seconds(cfg: RunConfig, *, fast_path: bool = True, repeats: int = 3) -> Estimate:
    """Seconds ``tlcore.train.run(cfg, fast_path=fast_path)`` should take here (see the
    module docstring). Measurements are cached by what determines them (``_PROBES``), so
    configs that train the same groups on the same data get the same estimate."""
    strategy = STRATEGIES.get(cfg.strategy)
    data, data_s = _data(cfg)
    sizes = _split_sizes(cfg, data, strategy.train_on_target)
    n_all = sum(sizes.values())
    native = tuple(data.source.images.shape[1:])
    probe = _Probe(cfg, data.num_classes, native)
    net_key = (cfg.backbone, cfg.input_size, data.num_classes)
    build_s, pre_img, timed_weights = _cached(("setup", *net_key, strategy.weights(cfg), native),
                                              lambda: probe.setup(strategy))
    groups = _cached(("groups", *net_key), lambda: probe.bb.net.group_names)
    run_key = (*net_key, native, cfg.bn_policy, cfg.batch_size, cfg.optimizer, cfg.augment, fast_path,
               strategy.name if strategy.uses_unlabelled_target else "", sizes["train"])
    batches = -(-sizes["train"] // cfg.batch_size)
    per_eval = sizes["val"] + sizes.get("target", 0)
    parts = {"setup": data_s + build_s + pre_img * n_all, "frozen features": 0.0, "training": 0.0,
             "evaluation": 0.0}
    details: dict[str, float | int | str] = {
        "train images": sizes["train"], "images preprocessed": n_all, "steps per epoch": batches,
        "epochs": cfg.epochs, "torch threads": torch.get_num_threads(), "weights timed": timed_weights}
    # an adaptation method computes its target pool through a frozen prefix once too
    pool = (min(len(data.target_pool), strategy.value(cfg, "target_pool_max"))
            if isinstance(strategy, AdaptationStrategy) else 0)
    cut, c = -1, {"eval": 0.0, "cut": 0}
    for first, last, phase in _phases_for(groups, cfg):
        c = _cached(("phase", *run_key, phase.trainable, phase.only),
                    lambda phase=phase: probe.phase_costs(phase, strategy, sizes["train"], fast_path, repeats))
        if c["cut"] != cut:
            parts["frozen features"] += c["prefix"] * (n_all + pool)
            cut = c["cut"]
        epochs = last - first + 1
        parts["training"] += epochs * batches * c["step"]
        parts["evaluation"] += epochs * per_eval * c["eval"]
        details[f"step ms (epochs {first + 1}-{last + 1})"] = round(c["step"] * 1000, 2)
        details[f"frozen groups (epochs {first + 1}-{last + 1})"] = c["cut"]
    # end of run: test (+ target) evaluation, then features of the same images
    parts["evaluation"] += 2 * (sizes["test"] + sizes.get("target", 0)) * c["eval"]
    if data.target is not None:
        parts["domain measures"] = _target_extras(cfg, probe, net_key, sizes, c["eval"])
    return Estimate(sum(parts.values()), parts, details)


def _target_extras(cfg: RunConfig, probe: _Probe, net_key: tuple, sizes: dict[str, int],
                   eval_img: float) -> float:
    """What a run with a target domain adds (``train.run``): one pass of the whole network
    over test + target before training, features of a fixed sample after every epoch, a
    proxy A-distance on that sample before and after every epoch, and A-distance + MMD on
    all test images before and after."""
    from tlcore.evaluation import SNAPSHOT_PER_CLASS

    n_cls = net_key[2]
    n_snap = min(sizes["test"], SNAPSHOT_PER_CLASS * n_cls)
    full = _cached(("full eval", *net_key, probe.native), probe.full_eval)
    dim = _cached(("dim", *net_key), lambda: probe.bb.net.feature_dim)
    snap_s, measures_s = _cached(("domain", dim, n_snap, sizes["test"], sizes["target"]),
                                 lambda: _domain_costs(dim, n_snap, sizes["test"], sizes["target"]))
    before = full * (sizes["test"] + sizes["target"])
    return before + cfg.epochs * 2 * n_snap * eval_img + (cfg.epochs + 1) * snap_s + 2 * measures_s


def estimate_track_record(records) -> dict:
    """How far past estimates were from the runs' real times.

    ``records``: finished runs (``RunRecord``s or dicts with ``status``, ``seconds`` and
    ``metrics["estimated_seconds"]``); only ``done`` runs with both numbers count. The
    error of one run is ``|estimated - actual| / actual``. Returns ``count``,
    ``median_error`` and ``worst_error`` (fractions; None without runs), ``worst_run`` (its
    id) and ``median_ratio`` (estimated / actual: below 1 means estimates run short).
    """
    errors, ratios = [], []
    for r in records:
        get = r.get if isinstance(r, dict) else lambda k, r=r: getattr(r, k, None)
        est = (get("metrics") or {}).get("estimated_seconds")
        actual = get("seconds")
        if get("status") != "done" or not est or not actual or actual <= 0:
            continue
        errors.append((abs(est - actual) / actual, get("id") or get("run_id")))
        ratios.append(est / actual)
    if not errors:
        return {"count": 0, "median_error": None, "worst_error": None, "worst_run": None,
                "median_ratio": None}
    worst = max(errors, key=lambda e: e[0])
    return {"count": len(errors), "median_error": statistics.median(e for e, _ in errors),
            "worst_error": worst[0], "worst_run": worst[1], "median_ratio": statistics.median(ratios)}


def track_record_text(tr: dict) -> str:
    """The Model page's sentence for ``estimate_track_record``'s answer."""
    if not tr["count"]:
        return ("No finished run has recorded its estimate yet: from now on every run stores the "
                "estimate beside its real time, and this line says how far off they were.")
    runs = "run" if tr["count"] == 1 else "runs"
    side = "short" if tr["median_ratio"] < 1 else "long"
    return (f"Past estimates were off by a median of {tr['median_error']:.0%} ({tr['count']} {runs}; "
            f"worst {tr['worst_error']:.0%}, run {tr['worst_run']}); the median estimate ran {side} "
            f"at {tr['median_ratio']:.2f}× the real time. Other work on this machine slows runs unevenly.")
