"""Describing a backbone's layer groups: parameters and output shape at an input size."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import GroupedNet


@dataclass(frozen=True)
class GroupInfo:
    name: str
    params: int
    output_shape: tuple[int, ...]  # per image, without the batch dimension

    def to_dict(self) -> dict:
        return {"name": self.name, "params": self.params, "output_shape": list(self.output_shape)}


def describe_groups(net: GroupedNet, size: int, channels: int = 3) -> list[GroupInfo]:
    """One ``GroupInfo`` per group, found by a single forward pass of one dummy image."""
    x = torch.zeros(2, channels, size, size)  # 2: BatchNorm-free of batch-size-1 quirks
    infos = []
    was = net.training
    net.eval()
    with torch.no_grad():
        for name in net.group_names:
            x = net.group(name)(x)
            params = sum(p.numel() for p in net.group(name).parameters())
            infos.append(GroupInfo(name, params, tuple(x.shape[1:])))
    net.train(was)
    return infos
