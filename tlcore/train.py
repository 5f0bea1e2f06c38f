"""The trainer: one loop for every strategy, with the frozen-prefix fast path.

``run(cfg)`` goes config -> data -> backbone -> strategy phases -> epochs of train then
validate -> test metrics, reporting through ``Callbacks`` (per-batch progress, per-epoch
records, a cancel flag checked every batch). Same config and seed give the same numbers
on CPU. A non-finite loss ends the run as ``diverged`` with a hint instead of curves of
garbage.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from tlcore.augment import random_shift
from tlcore.config import RunConfig
from tlcore.device import resolve_device
from tlcore.features import MAX_CACHE_BYTES, cached_prefix, run_prefix
from tlcore.freeze import (
    Phase,
    apply_phase,
    frozen_prefix,
    param_groups,
    set_modes,
    trainable_count,
)
from tlcore.models import Backbone, build_backbone
from tlcore.rundata import SPLIT_RULE, RunData, prepare
from tlcore.strategies import STRATEGIES
from tlcore.trained import changed_state, pretrained_state

SNAPSHOT_PER_CLASS = 20  # images per class and domain whose features are kept every epoch


class Cancelled(Exception):
    pass


class Diverged(Exception):
    pass


@dataclass
class Callbacks:
    progress: Callable[[float, str], None] | None = None  # (fraction done, message)
    epoch: Callable[[dict], None] | None = None  # one history record
    cancelled: Callable[[], bool] | None = None


@dataclass
class RunResult:
    config: RunConfig
    status: str  # done | diverged | cancelled | failed
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    message: str = ""
    seconds: float = 0.0
    provenance: dict = field(default_factory=dict)
    artifacts: dict[str, torch.Tensor] = field(default_factory=dict)
    model: torch.nn.Module | None = None  # the trained network (not stored; for tests and scripts)
    model_state: dict[str, torch.Tensor] | None = None  # what the store keeps (tlcore.trained)


def lr_factor(cfg: RunConfig, step: int, total: int) -> float:
    """Cosine decay from 1 to 0 over the whole run (phases share one schedule)."""
    if cfg.schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * step / max(1, total)))


EVAL_BATCH = 128  # images per forward pass when scoring (no gradients, so larger than training's)


@torch.no_grad()
def _evaluate(net, x: torch.Tensor, y: torch.Tensor, k: int, device,
              batch: int = EVAL_BATCH) -> tuple[float, float, torch.Tensor]:
    """(mean loss, accuracy, class probabilities ``[N, C]``) of groups ``k:`` + head on
    prefix outputs ``x``; the predictions are ``probs.argmax(1)``."""
    net.eval()
    probs, total = [], 0.0
    for i in range(0, len(x), batch):
        xb, yb = x[i:i + batch].to(device), y[i:i + batch].to(device)
        logits = net.head(net.forward_features(xb, k))
        total += float(F.cross_entropy(logits, yb, reduction="sum"))
        probs.append(logits.softmax(1).cpu())
    pr = torch.cat(probs) if probs else torch.empty(0, net.head.out_features)
    p = pr.argmax(1)
    return total / max(1, len(y)), float((p == y).float().mean()) if len(y) else float("nan"), pr


def confusion(y: torch.Tensor, p: torch.Tensor, n: int) -> torch.Tensor:
    return torch.bincount(y * n + p, minlength=n * n).reshape(n, n)


def per_class_accuracy(cm: torch.Tensor) -> list[float]:
    return (cm.diag().float() / cm.sum(1).clamp(min=1).float()).tolist()


class _Inputs:
    """Preprocessed inputs per split, and their prefix outputs for the current cut."""

    def __init__(self, bb: Backbone, data: RunData, cfg: RunConfig, train_on_target: bool) -> None:
        pre = bb.preprocess
        src, s = data.source, data.splits
        if train_on_target:  # the oracle: labelled target images replace the source's
            tgt = data.target
            pool_labels = tgt.labels[data.target_pool]
            n = cfg.labels_per_class
            keep = torch.cat([data.target_pool[pool_labels == c][:n] if n else data.target_pool[pool_labels == c]
                              for c in range(tgt.num_classes)])
            train_imgs, self.y_train = tgt.images[keep], tgt.labels[keep]
        else:
            train_imgs, self.y_train = src.images[s.train], src.labels[s.train]
        self.raw = {"train": pre(train_imgs), "val": pre(src.images[s.val]), "test": pre(src.images[s.test])}
        self.y = {"train": self.y_train, "val": src.labels[s.val], "test": src.labels[s.test]}
        if data.target is not None:
            self.raw["target"] = pre(data.target.images[data.target_test])
            self.y["target"] = data.target.labels[data.target_test]
        self.cut = -1
        self.x: dict[str, torch.Tensor] = {}

    def at_cut(self, net, k: int, device, key_base: dict | None) -> dict[str, torch.Tensor]:
        if k != self.cut:
            self.x = {}
            for split, raw in self.raw.items():
                # k == 0: the inputs themselves; caching them on disk would only bloat the cache
                key = None if key_base is None or k == 0 else {**key_base, "split": split, "cut": k}
                self.x[split] = cached_prefix(key, lambda raw=raw: run_prefix(net, raw, k, device=device))
            self.cut = k
        return self.x


def _fits(net, raw: torch.Tensor, k: int) -> bool:
    if k == 0:
        return True
    with torch.no_grad():
        was = net.training
        out = net.eval().forward_features(raw[:2], 0, k)
        net.train(was)
    return out[0].numel() * 4 * len(raw) <= MAX_CACHE_BYTES


def run(cfg: RunConfig, callbacks: Callbacks | None = None, *, fast_path: bool = True,
        data: RunData | None = None) -> RunResult:
    """Train one run and return its result (never raises for diverged/cancelled runs)."""
    cb = callbacks or Callbacks()
    t0 = time.perf_counter()
    strategy = STRATEGIES.get(cfg.strategy)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    data = data or prepare(cfg)
    bb = build_backbone(cfg.backbone, weights=strategy.weights(cfg), input_size=cfg.input_size)
    net = bb.net
    # the pretrained tensors as loaded: what training left equal to these is not stored again
    init_state = pretrained_state(net) if bb.weights.pretrained else None
    net.reset_head(data.num_classes, seed=cfg.seed)
    strategy.prepare_net(net, cfg)
    net.to(device)
    groups = net.group_names
    result = RunResult(cfg, "running", provenance={"data": data.provenance(), "weights": {
        "backbone": cfg.backbone, "weights": bb.weights.name, **bb.provenance.to_dict()},
        "preprocess": bb.preprocess.to_dict(), "device": str(device)})
    if strategy.requires_target and data.target is None:
        raise ValueError(f"strategy {cfg.strategy} needs a target domain: set one (e.g. --target mnist_m)")
    inputs = _Inputs(bb, data, cfg, strategy.train_on_target)
    adaptive = strategy.uses_unlabelled_target
    aux = strategy.build_aux(net.feature_dim, cfg) if adaptive else None
    if aux is not None:
        aux.to(device)
    pool = None
    if adaptive:  # unlabelled target images, kept uint8 and preprocessed per batch
        cap = int(cfg.extra_value("target_pool_max", 10000))
        pool = data.target.images[data.target_pool[:cap]]
    snaps = None
    if data.target is not None:  # one pass of the pretrained net serves both "before" readings
        start = _features(net, {s: inputs.raw[s] for s in ("test", "target")}, 0, device)
        before = _domain_measures(start)
        snaps = _Snapshots(inputs, data.num_classes)
        a_distance_start = snaps.record({s: f[idx] for (s, idx), f in zip(snaps.index.items(), start.values(),
                                                                            strict=True)})
    key_base = None
    if bb.weights.pretrained:
        key_base = {"backbone": cfg.backbone, "weights": bb.provenance.files, "size": bb.preprocess.size,
                    "dataset": cfg.dataset, "target": cfg.target, "seed": cfg.seed,
                    "labels_per_class": cfg.labels_per_class, "val": cfg.val_per_class,
                    "test": cfg.test_per_class, "splits": SPLIT_RULE, "index": data.digest(), "oracle": strategy.train_on_target}
    gen = torch.Generator().manual_seed(cfg.seed)
    n_train = len(inputs.y_train)
    batches = (n_train + cfg.batch_size - 1) // cfg.batch_size
    total_steps = cfg.epochs * batches
    phase: Phase | None = None
    opt = None
    k = 0
    step = 0
    try:
        for epoch in range(cfg.epochs):
            new_phase = strategy.phase(groups, cfg, epoch)
            if new_phase != phase:
                phase = new_phase
                apply_phase(net, phase, cfg.bn_policy)
                if trainable_count(net) == 0:
                    raise ValueError("this freeze plan leaves nothing to train; unfreeze at least the head")
                pg = param_groups(net, phase, cfg)
                if aux is not None:
                    pg.append({"params": list(aux.parameters()), "lr": cfg.lr, "name": "discriminator"})
                # fused Adam: one kernel for all tensors instead of a loop (3-6x faster steps on CPU)
                fused = device.type in ("cpu", "cuda")
                opt = (torch.optim.Adam(pg, weight_decay=cfg.weight_decay, fused=fused) if cfg.optimizer == "adam"
                       else torch.optim.SGD(pg, momentum=0.9, weight_decay=cfg.weight_decay))
                for g in opt.param_groups:
                    g["base_lr"] = g["lr"]
                k = frozen_prefix(net, phase, cfg.bn_policy) if fast_path and not cfg.augment else 0
                if k and not _fits(net, inputs.raw["train"], k):
                    k = 0
            x = inputs.at_cut(net, k, device, key_base)
            set_modes(net, phase, cfg.bn_policy)
            if aux is not None:
                aux.train()
            order = torch.randperm(n_train, generator=gen)
            loss_sum, correct = 0.0, 0
            stats_sum: dict[str, float] = {}
            for b in range(batches):
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                xb, yb = x["train"][idx], inputs.y_train[idx]
                if cfg.augment:
                    xb = random_shift(xb, gen)
                xb, yb = xb.to(device), yb.to(device)
                if adaptive:
                    xt = bb.preprocess(pool[torch.randint(len(pool), (len(idx),), generator=gen)])
                    if cfg.augment:
                        xt = random_shift(xt, gen)
                    xt = xt.to(device)
                    if k:
                        with torch.no_grad():  # the frozen prefix, as the cache computed it
                            xt = net.forward_features(xt, 0, k)
                    feats = net.forward_features(torch.cat([xb, xt]), k)
                    fs, ft = feats[:len(idx)], feats[len(idx):]
                    logits = net.head(fs)
                    extra, stats = strategy.adapt_loss(aux, fs, ft, step / total_steps, cfg)
                    loss = F.cross_entropy(logits, yb) + extra
                    for key, v in stats.items():
                        stats_sum[key] = stats_sum.get(key, 0.0) + v
                else:
                    logits = net.head(net.forward_features(xb, k))
                    loss = F.cross_entropy(logits, yb)
                if not torch.isfinite(loss):
                    raise Diverged(f"the loss became {loss.item()} in epoch {epoch + 1}, batch {b + 1}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                for g in opt.param_groups:
                    g["lr"] = g["base_lr"] * lr_factor(cfg, step, total_steps)
                opt.step()
                loss_sum += loss.item() * len(idx)
                correct += int((logits.argmax(1) == yb).sum())
                step += 1
                if cb.progress:
                    cb.progress(step / total_steps, f"epoch {epoch + 1}/{cfg.epochs}")
                if cb.cancelled and cb.cancelled():
                    raise Cancelled()
            rec = {"epoch": epoch + 1, "train_loss": loss_sum / n_train, "train_acc": correct / n_train,
                   "trainable": phase.describe(groups), "trainable_params": trainable_count(net),
                   "lrs": {g["name"]: g["base_lr"] for g in opt.param_groups}, "fast_path_cut": k,
                   **{key: v / batches for key, v in stats_sum.items()}}
            rec["val_loss"], rec["val_acc"], _ = _evaluate(net, x["val"], inputs.y["val"], k, device)
            if "target" in x:
                rec["target_loss"], rec["target_acc"], _ = _evaluate(net, x["target"], inputs.y["target"], k, device)
            if snaps is not None:
                rec["a_distance"] = snaps.take(net, x, k, device)
            rec["seconds"] = time.perf_counter() - t0
            result.history.append(rec)
            if cb.epoch:
                cb.epoch(rec)
    except Diverged as e:
        result.status = "diverged"
        result.message = (f"{e}. Lower the learning rate (now {cfg.lr:g}) or the backbone LR multiplier "
                          f"(now {cfg.backbone_lr_mult:g}), or switch to Adam.")
    except Cancelled:
        result.status = "cancelled"
        result.message = f"cancelled after {len(result.history)} of {cfg.epochs} epochs"
    if result.status == "running":
        _finish(result, net, inputs, k, data, device)
        result.model_state = changed_state(net, init_state)
        if data.target is not None:  # the final features _finish stored, not a second pass
            after = _domain_measures({s: result.artifacts[f"features_{s}"] for s in ("test", "target")})
            result.metrics.update({f"{m}_before": v for m, v in before.items()})
            result.metrics.update({f"{m}_after": v for m, v in after.items()})
        if snaps is not None:
            result.artifacts.update(snaps.artifacts())
            # the per-epoch curve's starting point (same sampled images as history's a_distance)
            result.metrics["a_distance_sampled_before"] = a_distance_start
        result.status = "done"
    result.seconds = time.perf_counter() - t0
    result.model = net
    return result


class _Snapshots:
    """Features of a fixed sample of source-test and target-test images after every epoch
    (and before the first), for embeddings that move over training and an A-distance curve.

    ``SNAPSHOT_PER_CLASS`` images per class and domain keep this cheap: one forward pass of
    a few hundred images per epoch, ~20 KB of float16 per epoch for a 128-d lab net."""

    def __init__(self, inputs: _Inputs, num_classes: int) -> None:
        self.index = {}
        for split in ("test", "target"):
            y = inputs.y[split]
            self.index[split] = torch.cat([torch.nonzero(y == c).flatten()[:SNAPSHOT_PER_CLASS]
                                           for c in range(num_classes)]).sort().values
        self.feats: dict[str, list[torch.Tensor]] = {s: [] for s in self.index}

    def take(self, net, x: dict[str, torch.Tensor], k: int, device) -> float:
        """Record the features of the sampled rows of ``x`` (inputs at cut ``k``)."""
        return self.record(_features(net, {s: x[s][idx] for s, idx in self.index.items()}, k, device))

    def record(self, feats: dict[str, torch.Tensor]) -> float:
        """Keep one epoch's features of the sampled rows (``feats[split]`` ``[n, D]``, in
        ``index`` order); return the proxy A-distance between the two domains."""
        from tlcore.transfer.domain import proxy_a_distance

        for split in self.index:
            self.feats[split].append(feats[split])
        return proxy_a_distance(feats["test"].numpy(), feats["target"].numpy())

    def artifacts(self) -> dict:
        """``snapshots_{test,target}``: float16 ``[epochs + 1, n, D]`` (row 0 before training);
        ``snapshot_index_{test,target}``: the rows of each test split they describe."""
        out = {}
        for split, idx in self.index.items():
            out[f"snapshots_{split}"] = torch.stack(self.feats[split]).half()
            out[f"snapshot_index_{split}"] = idx
        return out


@torch.no_grad()
def _features(net, x: dict[str, torch.Tensor], k: int, device, batch: int = EVAL_BATCH) -> dict[str, torch.Tensor]:
    """Features ``[N, D]`` (on the CPU) of groups ``k:`` in eval mode, per split of ``x``
    (inputs at cut ``k``); the net's train/eval mode is restored."""
    was = net.training
    net.eval()
    out = {split: torch.cat([net.forward_features(v[i:i + batch].to(device), k).cpu()
                             for i in range(0, len(v), batch)]) for split, v in x.items()}
    net.train(was)
    return out


def _domain_measures(feats: dict[str, torch.Tensor]) -> dict[str, float]:
    """Proxy A-distance and MMD^2 between source-test and target-test features."""
    from tlcore.transfer.domain import mmd2, proxy_a_distance

    fs, ft = feats["test"].numpy(), feats["target"].numpy()
    return {"a_distance": proxy_a_distance(fs, ft), "mmd2": mmd2(fs, ft)}


def _finish(result: RunResult, net, inputs: _Inputs, k: int, data: RunData, device) -> None:
    """Test metrics, per-class accuracy, confusion matrices, features for embeddings."""
    n = data.num_classes
    x = inputs.x
    m: dict = {}
    m["test_loss"], m["test_accuracy"], probs = _evaluate(net, x["test"], inputs.y["test"], k, device)
    cm = confusion(inputs.y["test"], probs.argmax(1), n)
    m["per_class_accuracy"] = per_class_accuracy(cm)
    m["confusion"] = cm.tolist()
    m["val_accuracy"] = result.history[-1]["val_acc"]
    if "target" in x:
        m["target_loss"], m["target_accuracy"], probs_t = _evaluate(net, x["target"], inputs.y["target"], k, device)
        cmt = confusion(inputs.y["target"], probs_t.argmax(1), n)
        m["target_per_class_accuracy"] = per_class_accuracy(cmt)
        m["target_confusion"] = cmt.tolist()
    m["class_names"] = list(data.source.class_names)
    result.metrics = m
    feats = _features(net, {s: x[s] for s in ("test", "target") if s in x}, k, device)
    for split, f in feats.items():
        result.artifacts[f"features_{split}"] = f
        result.artifacts[f"labels_{split}"] = inputs.y[split]
    result.artifacts["head"] = {kk: v.detach().cpu() for kk, v in net.head.state_dict().items()}
    # per-image answers for error analysis (which test images, how sure): float16 keeps
    # 500 images x 10 classes at 10 KB; the indices say where each image is in its dataset
    # (pred_* from the float32 probabilities: float16 can tie two classes)
    result.artifacts.update(probs_test=probs.half(), pred_test=probs.argmax(1),
                            index_test=data.splits.test.clone())
    if "target" in x:
        result.artifacts.update(probs_target=probs_t.half(), pred_target=probs_t.argmax(1),
                                index_target=data.target_test.clone())
    net.eval()  # the finished model is handed back in eval mode, as before
