"""Freeze plans: which layer groups train, what BatchNorm does, and at which learning rate.

A ``Phase`` says what trains during (part of) a run; a strategy hands the trainer one
per epoch. Applying it sets ``requires_grad`` per parameter and the train/eval mode per
module, following the run's BatchNorm policy (see ``config.BN_POLICIES``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tlcore.config import RunConfig
from tlcore.models.base import GroupedNet

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@dataclass(frozen=True)
class Phase:
    """``trainable``: groups whose parameters train. ``only`` narrows that to biases
    (BitFit) or BatchNorm parameters. ``lr_scale`` scales every group's LR (LP-FT's
    fine-tuning phase). ``discriminative``: backbone groups at ``backbone_lr_mult``."""

    trainable: frozenset[str]
    only: str = "all"  # "all" | "bias" | "bn"
    lr_scale: float = 1.0
    discriminative: bool = True

    def describe(self, groups: list[str]) -> str:
        if self.only == "bias":
            return "biases + head"
        if self.only == "bn":
            return "BatchNorm + head"
        return ", ".join(g for g in groups if g in self.trainable) or "nothing"


def _param_trains(name: str, module: nn.Module, phase: Phase) -> bool:
    if phase.only == "bias":
        return name.endswith("bias")
    if phase.only == "bn":
        return isinstance(module, BN_TYPES)
    return True


def _group_trains(g: str, phase: Phase) -> bool:
    """Whether group ``g`` is (at least partly) trained: BitFit / BN-only touch every group."""
    return g in phase.trainable or (phase.only != "all" and g != "head")


def apply_phase(net: GroupedNet, phase: Phase, bn_policy: str) -> None:
    """Set ``requires_grad`` on every parameter according to ``phase`` and ``bn_policy``."""
    for g in net.group_names:
        for module in net.group(g).modules():
            for pname, p in module.named_parameters(recurse=False):
                if g == "head":
                    trains = g in phase.trainable
                elif _group_trains(g, phase):
                    trains = _param_trains(pname, module, phase)
                else:  # frozen group: only BN affine parameters may train, by policy
                    trains = isinstance(module, BN_TYPES) and bn_policy in ("affine", "train")
                p.requires_grad_(trains)


def set_modes(net: GroupedNet, phase: Phase, bn_policy: str) -> None:
    """Train mode for trainable groups; eval for frozen ones (a fixed function, no dropout),
    except BatchNorm layers whose statistics the policy says to update."""
    net.train()
    for g in net.group_names:
        if _group_trains(g, phase):
            continue
        group = net.group(g)
        group.eval()
        if bn_policy in ("stats", "train"):
            for m in group.modules():
                if isinstance(m, BN_TYPES):
                    m.train()


def frozen_prefix(net: GroupedNet, phase: Phase, bn_policy: str) -> int:
    """How many leading groups are a fixed function during ``phase`` (the fast-path cut)."""
    if bn_policy != "frozen" or phase.only != "all":
        return 0
    k = 0
    for g in net.group_names[:-1]:
        if g in phase.trainable:
            break
        k += 1
    return k


def param_groups(net: GroupedNet, phase: Phase, cfg: RunConfig) -> list[dict]:
    """Optimizer parameter groups, one per layer group with trainable parameters,
    each at ``cfg.lr`` times its multiplier (head 1; backbone ``backbone_lr_mult``
    unless ``lr_mults`` names the group)."""
    mults = dict(cfg.lr_mults)
    out = []
    for g in net.group_names:
        params = [p for p in net.group(g).parameters() if p.requires_grad]
        if not params:
            continue
        if g == "head" or not phase.discriminative:
            mult = mults.get(g, 1.0)
        else:
            mult = mults.get(g, cfg.backbone_lr_mult)
        out.append({"params": params, "lr": cfg.lr * mult * phase.lr_scale, "name": g})
    return out


def trainable_count(net: GroupedNet) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def snapshot(net: GroupedNet) -> dict[str, torch.Tensor]:
    """Parameters *and* buffers (BN running stats): what "frozen" must keep unchanged."""
    return {k: v.detach().clone() for k, v in net.state_dict().items()}
