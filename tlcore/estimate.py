"""Before a run: what its freeze plan trains, and how long it will take on this machine.

``plan(cfg)`` walks the strategy's phases over the run's epochs on a built network, with
the freeze module's own ``apply_phase`` / ``frozen_prefix``, so the numbers the Model page
shows (trainable parameters, the fast-path cut) are the trainer's, not a re-derivation.

``estimate_seconds(cfg)`` measures instead of guessing: it builds the backbone, times a
few optimizer steps on one random batch at the config's input size and freeze plan, and
extrapolates the way the trainer spends its time (``tlcore.train.run``):

* preprocessing every image once;
* the frozen prefix (the fast path) computed once per cut over train + val + test
  (+ target) images, after which each step runs only the trainable groups;
* ``epochs x batches`` optimizer steps; validation (and target) evaluation every epoch;
  test evaluation plus feature extraction for the embeddings at the end.

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
import torch.nn.functional as F

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
from tlcore.models import GroupedNet, GroupInfo, build_backbone
from tlcore.strategies import STRATEGIES


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
    strategy = STRATEGIES.get(cfg.strategy)
    out: list[tuple[int, int, Phase]] = []
    for epoch in range(cfg.epochs):
        phase = strategy.phase(net.group_names, cfg, epoch)
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


def _timed(fn, repeats: int) -> float:
    """Median wall time of ``fn`` after one warm-up call (first calls allocate)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _split_sizes(cfg: RunConfig) -> dict[str, int]:
    counts = load_domain(DomainSpec(parse_domain(cfg.dataset).dataset)).class_counts()
    c = len(counts)
    held = cfg.val_per_class + cfg.test_per_class
    train = c * cfg.labels_per_class if cfg.labels_per_class else max(0, sum(counts) - c * held)
    sizes = {"train": train, "val": c * cfg.val_per_class, "test": c * cfg.test_per_class}
    if cfg.target:
        sizes["target"] = c * cfg.test_per_class
    return sizes


def estimate_seconds(cfg: RunConfig, *, fast_path: bool = True, repeats: int = 3) -> Estimate:
    """Seconds ``tlcore.train.run(cfg, fast_path=fast_path)`` should take here (see the
    module docstring). Costs per image are timed on a probe batch of 64 images at 64 px,
    fewer at larger sizes (8 at 224 px), so the probe itself stays a few seconds."""
    torch.manual_seed(0)
    sizes = _split_sizes(cfg)
    n_all = sum(sizes.values())
    t0 = time.perf_counter()
    bb = _net(cfg, domain_classes(cfg.dataset))
    build_s = time.perf_counter() - t0
    net, pre = bb.net, bb.preprocess
    probe = max(8, min(64, int(64 * (64 / pre.size) ** 2)))
    native = DATASETS.get(parse_domain(cfg.dataset).dataset).shape \
        if not parse_domain(cfg.dataset).is_path else (3, pre.size, pre.size)
    raw = torch.randint(0, 256, (probe, *native), dtype=torch.uint8)
    pre_s = _timed(lambda: pre(raw), 1) / probe * n_all
    x = pre(raw)
    y = torch.randint(0, net.head.out_features, (cfg.batch_size,))
    batches = -(-sizes["train"] // cfg.batch_size)
    per_eval = sizes["val"] + sizes.get("target", 0)
    parts = {"setup": build_s + pre_s, "frozen features": 0.0, "training": 0.0, "evaluation": 0.0}
    details: dict[str, float | int | str] = {"train images": sizes["train"], "images preprocessed": n_all,
                                             "steps per epoch": batches, "epochs": cfg.epochs}
    cut, k = -1, 0
    for first, last, phase in _phases(net, cfg):
        apply_phase(net, phase, cfg.bn_policy)
        if trainable_count(net) == 0:
            raise ValueError("this freeze plan leaves nothing to train; unfreeze at least the head")
        k = frozen_prefix(net, phase, cfg.bn_policy) if fast_path and not cfg.augment else 0
        with torch.no_grad():
            net.eval()
            xk = net.forward_features(x, 0, k)
        if k and xk[0].numel() * 4 * sizes["train"] > MAX_CACHE_BYTES:
            k, xk = 0, x  # the trainer's _fits rule: too big to keep, so recompute each step
        if k != cut:
            with torch.no_grad():
                prefix = _timed(lambda k=k: net.eval().forward_features(x, 0, k), 1) if k else 0.0
            parts["frozen features"] += prefix / probe * n_all
            cut = k
        with torch.no_grad():
            net.eval()
            eval_img = _timed(lambda k=k, xk=xk: net.head(net.forward_features(xk, k)), 1) / probe
        pg = param_groups(net, phase, cfg)
        opt = (torch.optim.Adam(pg, weight_decay=cfg.weight_decay) if cfg.optimizer == "adam"
               else torch.optim.SGD(pg, momentum=0.9, weight_decay=cfg.weight_decay))
        xb = xk[:cfg.batch_size]
        if len(xb) < cfg.batch_size:
            xb = xb.repeat(-(-cfg.batch_size // len(xb)), *[1] * (xb.ndim - 1))[:cfg.batch_size]

        def step(xb=xb, k=k, opt=opt) -> None:
            loss = F.cross_entropy(net.head(net.forward_features(xb, k)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        set_modes(net, phase, cfg.bn_policy)
        step_s = _timed(step, repeats)
        epochs = last - first + 1
        parts["training"] += epochs * batches * step_s
        parts["evaluation"] += epochs * per_eval * eval_img
        details[f"step ms (epochs {first + 1}-{last + 1})"] = round(step_s * 1000, 2)
        details[f"frozen groups (epochs {first + 1}-{last + 1})"] = k
    # end of run: test (+ target) evaluation, then features of the same images
    parts["evaluation"] += 2 * (sizes["test"] + sizes.get("target", 0)) * eval_img
    return Estimate(sum(parts.values()), parts, details)
