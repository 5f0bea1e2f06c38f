"""Sweep every registered backbone: builds, runs, and its groups partition its parameters."""

from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm

from tlcore.models import BACKBONES, build_backbone, describe_groups, list_backbones
from tlcore.models.torchvision_zoo import FAMILIES

ALL = BACKBONES.names()


def test_registry_has_the_promised_families():
    for name in ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small",
                 "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "vgg11_bn", "vgg16",
                 "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]:
        assert name in BACKBONES
    assert sum(s.family == "lab_resnet" for s in list_backbones()) >= 4


def test_registry_refuses_duplicates():
    spec = BACKBONES.get("resnet18")
    with pytest.raises(ValueError, match="already registered"):
        BACKBONES.add(spec)


@pytest.mark.parametrize("name", ALL)
def test_backbone_builds_runs_and_groups_partition_parameters(name):
    spec = BACKBONES.get(name)
    bb = build_backbone(name, weights="none")
    net = bb.net.eval()
    size = spec.default_size
    x = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)  # grey, odd size: preprocessing adapts
    with torch.no_grad():
        logits = net(bb.preprocess(x))
    assert logits.shape[0] == 2 and logits.shape[1] == net.head.out_features
    assert torch.isfinite(logits).all()

    # every parameter in exactly one group
    seen: dict[int, str] = {}
    for g in net.group_names:
        for p in net.group(g).parameters():
            assert id(p) not in seen, f"{name}: a parameter is in {seen[id(p)]} and {g}"
            seen[id(p)] = g
    assert set(seen) == {id(p) for p in net.parameters()}
    assert net.group_names[-1] == "head" and len(net.group_names) >= 4

    infos = describe_groups(net, size)
    assert [i.name for i in infos] == net.group_names
    assert sum(i.params for i in infos) == sum(p.numel() for p in net.parameters())
    assert infos[-2].output_shape == (net.feature_dim,)
    assert all(i.params > 0 for i in infos)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_grouped_net_computes_what_torchvision_computes(name):
    """Oracle: the wrapped chain of groups equals torchvision's own forward."""
    ctor = FAMILIES[name][0]
    torch.manual_seed(0)
    ref = ctor(weights=None).eval()
    net = BACKBONES.get(name).build(ref.state_dict()).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net(x), ref(x), atol=1e-5)


@pytest.mark.parametrize("name", ALL)
def test_unavailable_weights_explain_themselves(name):
    for w in BACKBONES.get(name).weights.values():
        a = w.check()
        assert a.available or ("install" in a.reason or "pretrain" in a.reason or "TLAB_ALLOW_DOWNLOAD" in a.reason)
        assert w.source and w.licence


def test_missing_weights_raise_instead_of_random_init(tmp_path, monkeypatch):
    from tlcore.models import WeightsUnavailable

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("TLAB_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(WeightsUnavailable, match="TLAB_ALLOW_DOWNLOAD"):
        build_backbone("resnet18")  # not shipped offline


def test_corrupt_weight_file_is_refused(tmp_path, monkeypatch):
    from tlcore.models import WeightsUnavailable
    from tlcore.models.weight_files import hub_checkpoints, packaged_file

    src = packaged_file("mobilenet_v2-b0353104.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    target = hub_checkpoints() / "mobilenet_v2-b0353104.pth"
    target.parent.mkdir(parents=True)
    data = bytearray(src.read_bytes())
    data[1000] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(WeightsUnavailable, match="corrupt"):
        build_backbone("mobilenet_v2")


def test_preprocess_channels_size_and_normalisation():
    bb = build_backbone("mobilenet_v2", weights="none", input_size=40)
    grey = torch.full((1, 1, 28, 28), 255, dtype=torch.uint8)
    out = bb.preprocess(grey)
    assert out.shape == (1, 3, 40, 40)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # torchvision ImageNet values
    for c in range(3):
        assert torch.allclose(out[0, c], torch.full((40, 40), (1 - mean[c]) / std[c]), atol=1e-5)


def test_preprocess_comes_from_the_weights():
    spec = BACKBONES.get("efficientnet_b0")
    w = tvm.EfficientNet_B0_Weights.IMAGENET1K_V1.transforms()
    assert spec.weights["imagenet1k_v1"].preprocess.mean == tuple(w.mean)
    assert spec.native_size == w.crop_size[0]
