"""The lab zoo: small ResNet-style CNNs pretrained by this project on CPU-sized tasks.

ImageNet backbones are slow on a 2-core laptop and, at 28-64 px, often worse than a
small net trained from scratch. These nets (~0.3 M parameters, 32x32 RGB input)
make the classic experiments runnable in seconds. Each zoo entry is trained by
``tlcore pretrain NAME``; its weights and model card live in ``assets/lab_zoo/`` and
are sha256-checked before use.

Shapes: input ``[N, 3, 32, 32]`` -> stem ``[N, 24, 32, 32]`` -> block1 ``[N, 32, 16, 16]``
-> block2 ``[N, 64, 8, 8]`` -> block3 ``[N, 128]`` (pooled) -> head ``[N, classes]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn

from tlcore.data.base import Availability
from tlcore.paths import ASSETS, sha256_file

from .base import (
    BACKBONES,
    BackboneSpec,
    GroupedNet,
    LoadedWeights,
    WeightsSpec,
    WeightsUnavailable,
    random_weights,
)
from .preprocess import Preprocess

LAB_DIR = ASSETS / "lab_zoo"
LAB_PREPROCESS = Preprocess(size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
WIDTHS = (24, 32, 64, 128)


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus a (projected) shortcut, then ReLU; stride 2 downsamples."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def lab_resnet(num_classes: int = 10) -> GroupedNet:
    w0, w1, w2, w3 = WIDTHS
    stages = {
        "stem": nn.Sequential(nn.Conv2d(3, w0, 3, 1, 1, bias=False), nn.BatchNorm2d(w0), nn.ReLU(inplace=True)),
        "block1": ResidualBlock(w0, w1, 2),
        "block2": ResidualBlock(w1, w2, 2),
        "block3": nn.Sequential(ResidualBlock(w2, w3, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(1)),
    }
    return GroupedNet(stages, nn.Linear(w3, num_classes))


@dataclass(frozen=True)
class LabSource:
    """What a zoo entry is pretrained on; ``tlcore pretrain`` reads this.

    ``num_classes`` is stated, not derived: it sizes the head the shipped weights are loaded
    into before any dataset is read, ``pretrain`` refuses a dataset with another count,
    and the model card records it (``tests/test_lab_zoo.py`` holds all three to the
    weights' head)."""

    name: str
    dataset: str
    title: str
    num_classes: int
    epochs: int
    lr: float = 2e-3
    batch_size: int = 128
    max_train: int | None = None  # cap on training images, to keep pretraining CPU-sized


LAB_SOURCES: dict[str, LabSource] = {
    s.name: s
    for s in (
        LabSource("lab_mnist", "mnist", "MNIST digits", num_classes=10, epochs=3, max_train=30000),
        LabSource("lab_synth_digits", "synth_digits", "font-rendered digits", num_classes=10, epochs=8),
        LabSource("lab_fashion", "fashion_mnist", "Fashion-MNIST", num_classes=10, epochs=4,
                  max_train=30000),
        LabSource("lab_fashion_a", "fashion_mnist_a", "Fashion-MNIST classes 0-4 (A)", num_classes=5,
                  epochs=4, max_train=20000),
        LabSource("lab_fashion_b", "fashion_mnist_b", "Fashion-MNIST classes 5-9 (B)", num_classes=5,
                  epochs=4, max_train=20000),
    )
}


def card_path(name: str) -> Path:
    return LAB_DIR / f"{name}.json"


def weights_path(name: str) -> Path:
    return LAB_DIR / f"{name}.pt"


def read_card(name: str) -> dict:
    return json.loads(card_path(name).read_text())


def _check(name: str) -> Availability:
    if not (card_path(name).is_file() and weights_path(name).is_file()):
        return Availability(False, f"{name} is not trained yet: run `tlcore pretrain {name}`")
    return Availability(True)


def _load(name: str) -> LoadedWeights:
    avail = _check(name)
    if not avail.available:
        raise WeightsUnavailable(avail.reason)
    card = read_card(name)
    path = weights_path(name)
    digest = sha256_file(path)
    if digest != card["sha256"]:
        raise WeightsUnavailable(f"{path} does not match its model card's sha256; re-run "
                                 f"`tlcore pretrain {name}` or restore the file from git")
    return torch.load(path, map_location="cpu", weights_only=True), ((str(path), digest),)


def _build(num_classes: int, state_dict: dict[str, torch.Tensor] | None) -> GroupedNet:
    net = lab_resnet(num_classes)
    if state_dict is not None:
        net.load_state_dict(state_dict)
    return net


def _register(src: LabSource) -> None:
    pretrained = WeightsSpec(
        name=src.dataset,
        title=f"pretrained here on {src.title}",
        source=f"Transfer Lab zoo: assets/lab_zoo/{src.name}.pt (made by `tlcore pretrain {src.name}`)",
        licence="MIT (this project); data under its own licence (see the model card)",
        preprocess=LAB_PREPROCESS,
        check=partial(_check, src.name),
        load=partial(_load, src.name),
        num_classes=src.num_classes,
    )
    BACKBONES.add(BackboneSpec(
        name=src.name,
        family="lab_resnet",
        title=f"Lab ResNet pretrained on {src.title}",
        build=partial(_build, src.num_classes),
        weights={pretrained.name: pretrained, "none": random_weights(LAB_PREPROCESS)},
        default_weights=pretrained.name,
        default_size=32,
        native_size=32,
        description="small ResNet-style CNN, 32x32 RGB, ~0.3 M parameters",
        tags=("lab",),
    ))


for _src in LAB_SOURCES.values():
    _register(_src)
