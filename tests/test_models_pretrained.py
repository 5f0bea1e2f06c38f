"""Real pretrained weights, offline: ImageNet MobileNetV2 on real photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tlcore.models import build_backbone

# torchvision records the first 8 hex digits of each file's sha256 in its name; the full
# digest was computed here from the PyPI copy and must stay the same.
MOBILENET_V2_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"


@pytest.fixture(scope="module")
def mobilenet():
    return build_backbone("mobilenet_v2", input_size=224)


def test_offline_mobilenet_v2_is_torchvisions_file(mobilenet):
    (path, digest), = mobilenet.provenance.files
    assert path.endswith("mobilenet_v2-b0353104.pth")
    assert digest == MOBILENET_V2_SHA256 and digest.startswith("b0353104")
    assert "IMAGENET1K_V1" in mobilenet.provenance.source


def _square(img: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None]
    h, w = x.shape[-2:]
    s = min(h, w)
    return x[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]


def _photos() -> dict[str, tuple[np.ndarray, set[str]]]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    china = load_sample_images().images[0]
    return {
        "chelsea (a cat)": (data.chelsea(), {"Egyptian cat", "tabby", "tiger cat", "lynx", "Persian cat"}),
        "coffee (a cup)": (data.coffee(), {"espresso", "cup", "coffee mug", "consomme"}),
        "china (a temple)": (china, {"palace", "monastery", "pagoda", "bell cote", "church", "dome", "stupa"}),
    }


@pytest.mark.parametrize("photo", list(_photos()))
def test_mobilenet_v2_classifies_real_photos(mobilenet, photo):
    img, expected = _photos()[photo]
    net = mobilenet.net.eval()
    with torch.no_grad():
        probs = net(mobilenet.preprocess(_square(img))).softmax(-1)[0]
    top5 = {mobilenet.weights.categories[i] for i in probs.topk(5).indices.tolist()}
    assert top5 & expected, f"{photo}: top-5 {top5}"


def test_random_init_is_not_pretrained(mobilenet):
    """The same photo through random weights is near-uniform: weights really loaded above."""
    rnd = build_backbone("mobilenet_v2", weights="none", input_size=224).net.eval()
    x = mobilenet.preprocess(_square(_photos()["coffee (a cup)"][0]))
    with torch.no_grad():
        assert rnd(x).softmax(-1).max() < 0.2 < mobilenet.net.eval()(x).softmax(-1).max()
