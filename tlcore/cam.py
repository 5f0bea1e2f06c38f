"""Where a trained run looked: Grad-CAM (Selvaraju et al. 2017) through captum.

Grad-CAM weights the feature maps of a convolutional layer by the gradient of one class's
logit, averaged over each map, and keeps the positive part: the regions whose features
raised that class. It is taken on the last layer whose output is still a spatial map
(``target_layer``): in every registered family that is the last block of the last stage
before its pooling (ResNet's ``layer4``, MobileNet's final 1x1 conv, ConvNeXt's last
stage, VGG's pool5, the lab nets' ``block3`` residual block). An adaptive pooling is never
it: VGG's resizes pool5's map to the 7x7 its fc6 expects, copying cells at small inputs.
Where a small input leaves that map 1x1 (MobileNetV2 at 32 px), there is nothing to
localise on, so the last map larger than 1x1 is used instead.

The heat map needs gradients through a network that was loaded for inference (eval mode,
frozen groups with ``requires_grad=False``): only the input is given ``requires_grad``, so
no parameter's ``.grad`` is written, and captum's hooks are removed after each call. The
mode is restored even on an error. One network must not be used by two threads at once
(the hooks are per module); callers that share a model hold a lock.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch
from torch import nn

from tlcore.predict import Prepared
from tlcore.trained import TrainedModel

ADAPTIVE_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)

# net -> {input size: the layer Grad-CAM uses}; weak, so a dropped model frees its entry
_LAYERS: weakref.WeakKeyDictionary[nn.Module, dict[int, nn.Module]] = weakref.WeakKeyDictionary()


def _units(net: nn.Module) -> list[nn.Module]:
    """The chain of modules a stage is made of: a ``Sequential`` stage's children (one level
    deep: a residual block is one unit, its shortcut is not a step of the chain), else the
    stage itself."""
    units: list[nn.Module] = []
    for stage in net.stages.values():
        units += list(stage.children()) if isinstance(stage, nn.Sequential) else [stage]
    return units


def target_layer(net: nn.Module, size: int, channels: int = 3) -> nn.Module:
    """The last module of ``net.stages`` whose output is a 4-D map larger than 1x1, found
    by one probe forward of a ``[1, channels, size, size]`` input (cached per net and size)."""
    cached = _LAYERS.setdefault(net, {})
    if size in cached:
        return cached[size]
    shapes: dict[nn.Module, torch.Size] = {}
    def record(module: nn.Module, _inputs, out) -> None:
        shapes[module] = getattr(out, "shape", ())

    hooks = [u.register_forward_hook(record) for u in _units(net)]
    was = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros(1, channels, size, size))
    finally:
        for h in hooks:
            h.remove()
        net.train(was)
    maps = [u for u in _units(net) if u in shapes and len(shapes[u]) == 4
            and shapes[u][-2:].numel() > 1 and not isinstance(u, ADAPTIVE_POOLS)]
    if not maps:
        raise ValueError(f"no layer of this network keeps a spatial map larger than 1x1 at "
                         f"{size} px")
    cached[size] = maps[-1]
    return maps[-1]


def heatmap(model: TrainedModel, prepared: Prepared, class_index: int | None = None) -> np.ndarray:
    """float32 ``[S, S]`` in [0, 1] over ``prepared.seen``: where the evidence for
    ``class_index`` (None: the predicted class) came from; 1 at the strongest. All zeros
    when no region raised the class."""
    from captum.attr import LayerAttribution, LayerGradCam

    net = model.net
    x = model.preprocess(prepared.images)
    size = x.shape[-1]
    layer = target_layer(net, size, x.shape[1])
    was = net.training
    try:
        net.eval()
        if class_index is None:
            with torch.no_grad():
                class_index = int(net(x).argmax(1))
        if not 0 <= class_index < len(model.class_names):
            raise ValueError(f"class_index {class_index} is not one of the "
                             f"{len(model.class_names)} classes")
        with torch.enable_grad():
            attr = LayerGradCam(net, layer).attribute(
                x.clone().requires_grad_(True), target=class_index, relu_attributions=True)
    finally:
        net.train(was)
    heat = LayerAttribution.interpolate(attr.detach(), (size, size), interpolate_mode="bilinear")
    heat = heat[0, 0].clamp(min=0)
    top = float(heat.max())
    out = heat / top if top > 0 else torch.zeros_like(heat)
    return out.numpy().astype(np.float32)


def _jet(h: np.ndarray) -> np.ndarray:
    """The classic blue-cyan-yellow-red ramp: ``[H, W]`` in [0, 1] -> float ``[H, W, 3]``."""
    h = h[..., None]
    return np.clip(1.5 - np.abs(4 * h - np.array([3.0, 2.0, 1.0])), 0, 1)


def overlay(seen: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W, 3]``: ``heat`` in the jet colour map over ``seen``, more opaque where
    hotter, so the cold parts still show the image."""
    if seen.shape[:2] != heat.shape:
        raise ValueError(f"heat map {heat.shape} does not match the image {seen.shape[:2]}")
    alpha = (0.25 + 0.45 * heat)[..., None]
    out = (1 - alpha) * seen.astype(np.float32) + alpha * 255.0 * _jet(heat)
    return out.round().clip(0, 255).astype(np.uint8)
