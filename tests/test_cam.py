"""Grad-CAM heat maps: a known answer on a hand-built net, the layer found in every
registered backbone, and a loaded model left exactly as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.engine_helpers import TINY
from tlcore.cam import heatmap, overlay, target_layer
from tlcore.jobs import execute
from tlcore.models import build_backbone, list_backbones
from tlcore.models.base import GroupedNet
from tlcore.models.lab import LAB_PREPROCESS
from tlcore.predict import Prepared
from tlcore.runs import Store
from tlcore.trained import TrainedModel, load_trained

pytestmark = pytest.mark.usefixtures("one_thread")


def _colour_net() -> GroupedNet:
    """Class 0 is "how red", class 1 "how green", pooled over the image: a 1x1 conv makes a
    red map (R - G) and a green map (G - R), averaged to 8x8, then globally pooled; the
    head is the identity. Its evidence for a class is exactly where that colour is."""
    conv = nn.Conv2d(3, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0]]).view(2, 3, 1, 1))
        conv.bias.zero_()
    head = nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.eye(2))
        head.bias.zero_()
    stages = {"maps": nn.Sequential(conv, nn.ReLU(), nn.AvgPool2d(4)),
              "pool": nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))}
    return GroupedNet(stages, head).eval()


def _model(net: nn.Module, classes: tuple[str, ...], preprocess=LAB_PREPROCESS) -> TrainedModel:
    return TrainedModel("hand", TINY, net, preprocess, classes, {}, {})


def _picture(red_at: tuple[int, int], green_at: tuple[int, int]) -> Prepared:
    """32x32 black with a red 8x8 square and a green one, top-left corners as given."""
    a = np.zeros((32, 32, 3), np.uint8)
    a[red_at[0]:red_at[0] + 8, red_at[1]:red_at[1] + 8] = (255, 0, 0)
    a[green_at[0]:green_at[0] + 8, green_at[1]:green_at[1] + 8] = (0, 255, 0)
    return Prepared(torch.from_numpy(a).permute(2, 0, 1)[None].contiguous(), a, ())


def _quadrant_shares(heat: np.ndarray) -> dict[str, float]:
    h, w = heat.shape
    total = heat.sum()
    return {"tl": heat[:h // 2, :w // 2].sum() / total, "tr": heat[:h // 2, w // 2:].sum() / total,
            "bl": heat[h // 2:, :w // 2].sum() / total, "br": heat[h // 2:, w // 2:].sum() / total}


def test_heat_is_where_the_evidence_is_and_moves_with_it():
    model = _model(_colour_net(), ("red", "green"))
    pic = _picture(red_at=(4, 4), green_at=(20, 20))
    red = heatmap(model, pic, class_index=0)
    green = heatmap(model, pic, class_index=1)
    assert red.shape == (32, 32) and red.dtype == np.float32 and red.min() >= 0 and red.max() == 1
    assert _quadrant_shares(red)["tl"] > 0.8 and _quadrant_shares(green)["br"] > 0.8
    assert np.unravel_index(red.argmax(), red.shape)[0] < 16
    moved = heatmap(model, _picture(red_at=(20, 4), green_at=(4, 20)), class_index=0)
    assert _quadrant_shares(moved)["bl"] > 0.8  # the red square moved down: so did the heat
    moved_green = heatmap(model, _picture(red_at=(20, 4), green_at=(4, 20)), class_index=1)
    assert _quadrant_shares(moved_green)["tr"] > 0.8


def test_default_class_is_the_predicted_one():
    model = _model(_colour_net(), ("red", "green"))
    pic = _picture(red_at=(4, 4), green_at=(20, 20))
    pic = Prepared(pic.images.clone(), pic.seen, ())
    pic.images[0, 1, 20:28, 20:24] = 0  # half the green square gone: red wins
    assert int(model.probabilities(pic.images).argmax()) == 0
    assert np.array_equal(heatmap(model, pic), heatmap(model, pic, class_index=0))
    with pytest.raises(ValueError, match="not one of the 2 classes"):
        heatmap(model, pic, class_index=2)


def test_no_evidence_gives_an_all_zero_map():
    model = _model(_colour_net(), ("red", "green"))
    black = Prepared(torch.zeros(1, 3, 32, 32, dtype=torch.uint8), np.zeros((32, 32, 3), np.uint8),
                     ())
    heat = heatmap(model, black, class_index=0)
    assert heat.shape == (32, 32) and not heat.any()


@pytest.mark.parametrize("name", [s.name for s in list_backbones()])
def test_every_registered_backbone_gets_a_spatial_layer_and_a_map(name):
    bb = build_backbone(name, weights="none")
    net = bb.net.eval()
    net.reset_head(3, seed=0)
    size = bb.preprocess.size
    layer = target_layer(net, size)
    assert layer is _before_pooling(net)  # at the default size every family's last map is > 1x1
    model = _model(net, ("a", "b", "c"), bb.preprocess)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (1, 3, size, size), generator=g, dtype=torch.uint8)
    heat = heatmap(model, Prepared(images, np.zeros((size, size, 3), np.uint8), ()), class_index=1)
    assert heat.shape == (size, size) and np.isfinite(heat).all()
    assert 0 <= heat.min() <= heat.max() <= 1


def test_small_inputs_fall_back_to_the_last_map_larger_than_1x1():
    net = build_backbone("mobilenet_v2", weights="none").net.eval()
    final = _before_pooling(net)  # 2x2 at 64 px, 1x1 at 32 px
    assert target_layer(net, 64) is final
    *_, before, last = net.stages.values()
    assert target_layer(net, 32) is list(before.children())[-1]  # the last block at 2x2


def _before_pooling(net: GroupedNet) -> nn.Module:
    """The oracle, read off the architecture: the module of the last stage just before its
    global pooling (ResNet's layer4, MobileNet's final 1x1 conv, the lab net's block)."""
    last = list(net.stages.values())[-1]
    mods = list(last.children())
    k = next(i for i, m in enumerate(mods) if isinstance(m, nn.AdaptiveAvgPool2d))
    return mods[k - 1]


@pytest.fixture(scope="module")
def frozen_model(tmp_path_factory) -> TrainedModel:
    """A real stored feature-extraction run, its stages frozen as the trainer froze them."""
    store = Store(tmp_path_factory.mktemp("cam"))
    rid, _ = store.submit(TINY.replace(strategy="feature_extraction", epochs=1))
    execute(store, rid)
    model = load_trained(store, rid)
    model.net.stages.requires_grad_(False)
    return model


def _hooks(net: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
               for m in net.modules())


def test_a_loaded_model_is_left_as_it_was(frozen_model):
    net = frozen_model.net
    flags = {n: p.requires_grad for n, p in net.named_parameters()}
    state = {k: v.clone() for k, v in net.state_dict().items()}
    assert any(flags.values()) and not all(flags.values())  # the head trains, the rest is frozen
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (1, 1, 8, 8), generator=g, dtype=torch.uint8)
    pic = Prepared(images, np.zeros((32, 32, 3), np.uint8), ())
    before = frozen_model.probabilities(images)
    first = heatmap(frozen_model, pic)
    assert not net.training
    assert {n: p.requires_grad for n, p in net.named_parameters()} == flags
    assert all(p.grad is None for p in net.parameters())
    assert _hooks(net) == 0
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())  # BN stats too
    assert torch.equal(frozen_model.probabilities(images), before)
    assert np.array_equal(heatmap(frozen_model, pic), first)  # nothing carried between calls
    net.train()
    try:
        heatmap(frozen_model, pic)
        assert net.training  # the caller's mode comes back
    finally:
        net.eval()


def test_overlay_blends_a_colour_map():
    seen = np.full((4, 4, 3), 100, np.uint8)
    heat = np.zeros((4, 4), np.float32)
    heat[0, 0] = 1.0
    out = overlay(seen, heat)
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    assert out[0, 0, 0] > out[0, 0, 2]  # hot: red
    assert out[3, 3, 2] > out[3, 3, 0]  # cold: blue
    assert abs(int(out[3, 3].mean()) - 100) < 60  # cold parts still show the image
    with pytest.raises(ValueError, match="does not match"):
        overlay(seen, np.zeros((5, 5), np.float32))
