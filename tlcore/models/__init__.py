"""Backbone registry: torchvision families, EfficientNet-Lite and the lab zoo, built by name.

>>> bb = build_backbone("mobilenet_v2")            # ImageNet weights, or a clear error
>>> bb.net.reset_head(10); logits = bb.net(bb.preprocess(images_uint8))
"""

from __future__ import annotations

from dataclasses import dataclass

from tlcore.data.base import Provenance

from . import efficientnet_lite, lab, torchvision_zoo  # noqa: F401  (register entries)
from .base import (
    BACKBONES,
    BackboneSpec,
    GroupedNet,
    WeightsSpec,
    WeightsUnavailable,
)
from .groups import GroupInfo, describe_groups
from .preprocess import Preprocess


@dataclass
class Backbone:
    """A built backbone: the network plus what a run must record about it."""

    spec: BackboneSpec
    weights: WeightsSpec
    net: GroupedNet
    preprocess: Preprocess
    provenance: Provenance

    def groups(self) -> list[GroupInfo]:
        return describe_groups(self.net, self.preprocess.size, self.preprocess.channels)


def list_backbones() -> list[BackboneSpec]:
    return list(BACKBONES)


def available_backbones() -> list[str]:
    """Names of the backbones whose default weights can load here (each one's cheap
    ``check()``), in registration order: what a backbone picker offers and what "every
    available backbone" means. The datasets' counterpart is
    ``tlcore.data.list_datasets(available_only=True)``."""
    return [b.name for b in BACKBONES if b.weights[b.default_weights].check().available]


def get_spec(name: str) -> BackboneSpec:
    return BACKBONES.get(name)


_GROUP_NAMES: dict[str, tuple[str, ...]] = {}


def group_names(name: str) -> tuple[str, ...]:
    """``name``'s layer groups, without building it for real: built on the meta device
    (shapes only, no weights read and no memory taken; VGG-16 built for real is 0.5 GB and
    seconds); cached per backbone."""
    import torch

    if name not in _GROUP_NAMES:
        with torch.device("meta"):
            _GROUP_NAMES[name] = tuple(BACKBONES.get(name).build(None).group_names)
    return _GROUP_NAMES[name]


def build_backbone(name: str, weights: str | None = None, input_size: int | None = None) -> Backbone:
    """Build ``name`` with ``weights`` (default: the entry's pretrained weights).

    ``weights="none"`` is the only way to get a random init. Missing weights raise
    ``WeightsUnavailable`` with what to install; there is no silent fallback.
    """
    spec = BACKBONES.get(name)
    wname = weights or spec.default_weights
    if wname not in spec.weights:
        raise KeyError(f"{name} has no weights {wname!r}; choose from {', '.join(spec.weights)}")
    wspec = spec.weights[wname]
    avail = wspec.check()
    if not avail.available:
        raise WeightsUnavailable(f"{name} / {wname}: {avail.reason}")
    state_dict, files = wspec.load()
    net = spec.build(state_dict)
    size = input_size or spec.default_size
    provenance = Provenance(source=wspec.source, licence=wspec.licence, files=files, notes=wspec.title)
    return Backbone(spec=spec, weights=wspec, net=net, preprocess=wspec.preprocess.with_size(size),
                    provenance=provenance)


__all__ = [
    "BACKBONES", "Backbone", "BackboneSpec", "GroupInfo", "GroupedNet", "Preprocess",
    "WeightsSpec", "WeightsUnavailable", "available_backbones", "build_backbone",
    "describe_groups", "get_spec", "list_backbones",
]
