"""The trainer: one loop for every strategy, with the frozen-prefix fast path.

``run(cfg)`` reads as its steps (``_Training``): prepare (data, backbone, the strategy's
network changes and per-run state, readings before training), then per epoch: enter the
strategy's phase for it (freeze plan, optimizer, fast-path cut), train one epoch, evaluate;
then finish (test metrics, artifacts, the changed tensors to store). What a batch's loss
is belongs to the strategy (``Strategy.loss``; the adaptation strategies add their target
batch there). It reports through ``Callbacks`` (per-batch progress, per-epoch records, a
cancel flag checked every batch). Same config and seed give the same numbers on CPU. A
non-finite loss ends the run as ``diverged`` with a hint instead of curves of garbage.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from tlcore.augment import random_shift
from tlcore.config import RunConfig
from tlcore.device import resolve_device
from tlcore.evaluation import SNAPSHOT_PER_CLASS, Snapshots, domain_measures, evaluate, features
from tlcore.evaluation import confusion as confusion
from tlcore.evaluation import per_class_accuracy as per_class_accuracy
from tlcore.features import cached_prefix, prefix_fits, run_prefix
from tlcore.freeze import (
    Phase,
    apply_phase,
    frozen_prefix,
    param_groups,
    set_modes,
    trainable_count,
)
from tlcore.models import Backbone, build_backbone
from tlcore.optim import build_optimizer
from tlcore.rundata import SPLIT_RULE, RunData, prepare
from tlcore.strategies import STRATEGIES, StepContext
from tlcore.trained import changed_state, pretrained_state

__all__ = ["SNAPSHOT_PER_CLASS", "Callbacks", "RunResult", "run"]


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


def run(cfg: RunConfig, callbacks: Callbacks | None = None, *, fast_path: bool = True,
        data: RunData | None = None) -> RunResult:
    """Train one run and return its result (never raises for diverged/cancelled runs)."""
    cb = callbacks or Callbacks()
    t = _Training(cfg, data, fast_path)
    try:
        for epoch in range(cfg.epochs):
            t.enter_phase(epoch)
            rec = t.train_epoch(epoch, cb)
            t.evaluate_epoch(rec)
            t.result.history.append(rec)
            if cb.epoch:
                cb.epoch(rec)
    except Diverged as e:
        t.stop("diverged", f"{e}. Lower the learning rate (now {cfg.lr:g}) or the backbone LR multiplier "
                           f"(now {cfg.backbone_lr_mult:g}), or switch to Adam.")
    except Cancelled:
        t.stop("cancelled", f"cancelled after {len(t.result.history)} of {cfg.epochs} epochs")
    if t.result.status == "running":
        t.finish()
    return t.handed_back()


class _Training:
    """One run's state, shared by the steps ``run`` calls in order."""

    def __init__(self, cfg: RunConfig, data: RunData | None, fast_path: bool) -> None:
        """Prepare: data, backbone, the strategy's changes and state, readings before training."""
        self.t0 = time.perf_counter()
        self.cfg, self.fast_path = cfg, fast_path
        self.strategy = strategy = STRATEGIES.get(cfg.strategy)
        strategy.check(cfg)
        if strategy.requires_target and not cfg.target:
            raise ValueError(f"strategy {cfg.strategy} needs a target domain: set one (e.g. --target mnist_m)")
        self.device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.data = data = data or prepare(cfg)
        self.bb = bb = build_backbone(cfg.backbone, weights=strategy.weights(cfg), input_size=cfg.input_size)
        self.net = net = bb.net
        # the pretrained tensors as loaded: what training left equal to these is not stored again
        self.init_state = pretrained_state(net) if bb.weights.pretrained else None
        net.reset_head(data.num_classes, seed=cfg.seed)
        strategy.check(cfg, net.group_names)
        strategy.prepare_net(net, cfg)
        net.to(self.device)
        self.result = RunResult(cfg, "running", provenance={"data": data.provenance(), "weights": {
            "backbone": cfg.backbone, "weights": bb.weights.name, **bb.provenance.to_dict()},
            "preprocess": bb.preprocess.to_dict(), "device": str(self.device),
            # CPU float sums depend on it: the same config on another thread count can end an
            # image or two apart after many epochs (bench/bench_sweep.py measures it)
            "torch_threads": torch.get_num_threads()})
        self.inputs = _Inputs(bb, data, cfg, strategy.train_on_target)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.ctx = StepContext(net, cfg, self.device, self.gen, bb.preprocess)
        strategy.setup(self.ctx, data)
        self.snaps = self._before_training() if data.target is not None else None
        self.key_base = self._cache_key() if bb.weights.pretrained else None
        self.batches = (len(self.inputs.y_train) + cfg.batch_size - 1) // cfg.batch_size
        self.total_steps = cfg.epochs * self.batches
        self.phase: Phase | None = None
        self.opt = None
        self.step = 0

    def _before_training(self) -> Snapshots:
        """The pretrained net's domain measures and first snapshot (one pass serves both)."""
        raw = self.inputs.raw
        start = features(self.net, {s: raw[s] for s in ("test", "target")}, 0, self.device)
        self.before = domain_measures(start)
        snaps = Snapshots(self.inputs.y, self.data.num_classes)
        self.a_distance_start = snaps.record({s: start[s][idx] for s, idx in snaps.index.items()})
        return snaps

    def _cache_key(self) -> dict:
        """What a frozen prefix's outputs depend on: the disk cache's key (``tlcore.features``)."""
        cfg, bb = self.cfg, self.bb
        return {"backbone": cfg.backbone, "weights": bb.provenance.files, "size": bb.preprocess.size,
                "dataset": cfg.dataset, "target": cfg.target, "seed": cfg.seed,
                "labels_per_class": cfg.labels_per_class, "val": cfg.val_per_class,
                "test": cfg.test_per_class, "splits": SPLIT_RULE, "index": self.data.digest(),
                "oracle": self.strategy.train_on_target}

    def enter_phase(self, epoch: int) -> None:
        """The strategy's freeze plan for ``epoch``; a new plan gets a new optimizer and cut."""
        cfg, net = self.cfg, self.net
        phase = self.strategy.phase(net.group_names, cfg, epoch)
        if phase != self.phase:
            self.phase = phase
            apply_phase(net, phase, cfg.bn_policy)
            if trainable_count(net) == 0:
                raise ValueError("this freeze plan leaves nothing to train; unfreeze at least the head")
            pg = param_groups(net, phase, cfg)
            if self.ctx.aux is not None:
                pg.append({"params": list(self.ctx.aux.parameters()), "lr": cfg.lr, "name": "discriminator"})
            self.opt = build_optimizer(cfg.optimizer, pg, cfg.weight_decay, self.device)
            k = frozen_prefix(net, phase, cfg.bn_policy) if self.fast_path and not cfg.augment else 0
            raw = self.inputs.raw["train"]
            self.ctx.k = k if prefix_fits(net, raw, k, len(raw), self.device) else 0
        self.x = self.inputs.at_cut(net, self.ctx.k, self.device, self.key_base)
        set_modes(net, self.phase, cfg.bn_policy)
        if self.ctx.aux is not None:
            self.ctx.aux.train()

    def train_epoch(self, epoch: int, cb: Callbacks) -> dict:
        """One pass over the training images in a seeded order; the epoch's history record."""
        cfg, ctx, opt = self.cfg, self.ctx, self.opt
        y_train, n_train = self.inputs.y_train, len(self.inputs.y_train)
        order = torch.randperm(n_train, generator=self.gen)
        loss_sum, correct = 0.0, 0
        stats_sum: dict[str, float] = {}
        for b in range(self.batches):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            xb, yb = self.x["train"][idx], y_train[idx]
            if cfg.augment:
                xb = random_shift(xb, self.gen)
            xb, yb = xb.to(self.device), yb.to(self.device)
            ctx.progress = self.step / self.total_steps
            loss, logits, stats = self.strategy.loss(ctx, xb, yb)
            if not torch.isfinite(loss):
                raise Diverged(f"the loss became {loss.item()} in epoch {epoch + 1}, batch {b + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for g in opt.param_groups:
                g["lr"] = g["base_lr"] * lr_factor(cfg, self.step, self.total_steps)
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            for key, v in stats.items():
                stats_sum[key] = stats_sum.get(key, 0.0) + v
            self.step += 1
            if cb.progress:
                cb.progress(self.step / self.total_steps, f"epoch {epoch + 1}/{cfg.epochs}")
            if cb.cancelled and cb.cancelled():
                raise Cancelled()
        return {"epoch": epoch + 1, "train_loss": loss_sum / n_train, "train_acc": correct / n_train,
                "trainable": self.phase.describe(self.net.group_names), "trainable_params": trainable_count(self.net),
                "lrs": {g["name"]: g["base_lr"] for g in opt.param_groups}, "fast_path_cut": ctx.k,
                **{key: v / self.batches for key, v in stats_sum.items()}}

    def evaluate_epoch(self, rec: dict) -> None:
        """Validation (and target) loss and accuracy, the A-distance snapshot, the clock."""
        x, y, k, net, device = self.x, self.inputs.y, self.ctx.k, self.net, self.device
        rec["val_loss"], rec["val_acc"], _ = evaluate(net, x["val"], y["val"], k, device)
        if "target" in x:
            rec["target_loss"], rec["target_acc"], _ = evaluate(net, x["target"], y["target"], k, device)
        if self.snaps is not None:
            rec["a_distance"] = self.snaps.take(net, x, k, device)
        rec["seconds"] = time.perf_counter() - self.t0

    def stop(self, status: str, message: str) -> None:
        self.result.status, self.result.message = status, message

    def finish(self) -> None:
        """Test metrics and artifacts, the tensors to store, the domain measures after."""
        result = self.result
        _finish(result, self)
        result.model_state = changed_state(self.net, self.init_state)
        if self.snaps is not None:  # the final features _finish stored, not a second pass
            after = domain_measures({s: result.artifacts[f"features_{s}"] for s in ("test", "target")})
            result.metrics.update({f"{m}_before": v for m, v in self.before.items()})
            result.metrics.update({f"{m}_after": v for m, v in after.items()})
            result.artifacts.update(self.snaps.artifacts())
            # the per-epoch curve's starting point (same sampled images as history's a_distance)
            result.metrics["a_distance_sampled_before"] = self.a_distance_start
        result.status = "done"

    def handed_back(self) -> RunResult:
        self.result.seconds = time.perf_counter() - self.t0
        self.result.model = self.net
        return self.result


def _target_metrics(t: _Training, m: dict, feats: dict) -> torch.Tensor:
    """The target's scores after the strategy's last change for it, and the label-free
    criteria (``tlcore.transfer.criteria``: source validation images as the source side,
    target test images without their labels); returns the target probabilities."""
    from tlcore.transfer.criteria import score_run

    net, inputs, k, device, x = t.net, t.inputs, t.ctx.k, t.device, t.inputs.x
    _, _, probs_v = evaluate(net, x["val"], inputs.y["val"], k, device)
    feats_v = features(net, {"val": x["val"]}, k, device)["val"]
    t.strategy.before_target(t.ctx, t.data)
    if t.ctx.k != k:  # the strategy changed what the target runs through (AdaBN's new statistics)
        k = t.ctx.k
        x = inputs.at_cut(net, k, device, t.key_base)
    m["target_loss"], m["target_accuracy"], probs_t = evaluate(net, x["target"], inputs.y["target"], k, device)
    cmt = confusion(inputs.y["target"], probs_t.argmax(1), t.data.num_classes)
    m["target_per_class_accuracy"] = per_class_accuracy(cmt)
    m["target_confusion"] = cmt.tolist()
    feats.update(features(net, {"target": x["target"]}, k, device))
    m["criteria"] = score_run(feats_v, probs_v, inputs.y["val"], feats["target"], probs_t)
    return probs_t


def _finish(result: RunResult, t: _Training) -> None:
    """Test metrics, per-class accuracy, confusion matrices, features for embeddings; the
    source test split first, then the strategy's last change for the target, then the target."""
    net, inputs, k, data, device = t.net, t.inputs, t.ctx.k, t.data, t.device
    n = data.num_classes
    x = inputs.x
    m: dict = {}
    m["test_loss"], m["test_accuracy"], probs = evaluate(net, x["test"], inputs.y["test"], k, device)
    cm = confusion(inputs.y["test"], probs.argmax(1), n)
    m["per_class_accuracy"] = per_class_accuracy(cm)
    m["confusion"] = cm.tolist()
    m["val_accuracy"] = result.history[-1]["val_acc"]
    feats = features(net, {"test": x["test"]}, k, device)
    if "target" in x:
        probs_t = _target_metrics(t, m, feats)
    m["class_names"] = list(data.source.class_names)
    result.metrics = m
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
