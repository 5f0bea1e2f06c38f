"""AdaBN, MCC and CDAN: each does what its paper says, on hand-built inputs and on a small
shifted pair."""

from __future__ import annotations

import pytest
import torch

from tlcore.config import RunConfig
from tlcore.strategies import STRATEGIES
from tlcore.strategies.adabn import reestimate_bn
from tlcore.strategies.cdan import (
    MAX_MULTILINEAR,
    RANDOM_DIM,
    ConditionalDiscriminator,
    entropy_weights,
    multilinear,
)
from tlcore.strategies.mcc import mcc_loss
from tlcore.train import run

PAIR = RunConfig(backbone="lab_mnist", dataset="digits", target="digits:rotate=3", labels_per_class=5,
                 val_per_class=5, test_per_class=20, epochs=2, batch_size=16, lr=3e-3,
                 extra=(("target_pool_max", 300.0),))


@pytest.fixture(scope="module")
def results():
    was = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread on a shared 2-core machine (see conftest.one_thread)
    yield {s: run(STRATEGIES.get(s).own_settings(PAIR)) for s in ("source_only", "adabn", "mcc", "cdan")}
    torch.set_num_threads(was)


@pytest.mark.parametrize("name", ["adabn", "mcc", "cdan"])
def test_method_trains_and_records_the_criteria(results, name):
    r = results[name]
    assert r.status == "done", r.message
    assert 0 <= r.metrics["target_accuracy"] <= 1
    assert set(r.metrics["criteria"]) == {"source_val_accuracy", "target_entropy", "snd", "dev"}


def test_mcc_loss_is_zero_when_sure_and_c_minus_one_over_c_when_uniform():
    assert float(mcc_loss(torch.zeros(8, 4))) == pytest.approx(3 / 4)
    sure = torch.eye(4).repeat(2, 1) * 100.0
    assert float(mcc_loss(sure)) < 1e-6


def test_mcc_gradient_lowers_the_confusion():
    z = torch.randn(16, 5, generator=torch.Generator().manual_seed(0), requires_grad=True)
    before = mcc_loss(z)
    before.backward()
    with torch.no_grad():
        after = mcc_loss(z - 1.0 * z.grad)
    assert float(after) < float(before.detach())


def test_mcc_logs_its_loss_each_epoch(results):
    assert all("mcc_loss" in h for h in results["mcc"].history)


def test_cdan_map_is_the_outer_product_and_randomized_when_wide():
    f, g = torch.randn(3, 4), torch.softmax(torch.randn(3, 2), 1)
    assert torch.allclose(multilinear(f, g), torch.einsum("bd,bc->bdc", f, g).reshape(3, 8))
    wide = ConditionalDiscriminator(MAX_MULTILINEAR, 2, hidden=8, seed=0)
    assert wide.randomized and wide.rf.shape == (MAX_MULTILINEAR, RANDOM_DIM)
    assert not ConditionalDiscriminator(128, 10, hidden=8, seed=0).randomized


def test_cdan_entropy_weights_favour_confident_samples():
    g = torch.tensor([[0.98, 0.01, 0.01], [1 / 3, 1 / 3, 1 / 3]])
    w = entropy_weights(g)
    assert w[0] > w[1] and float(w.mean()) == pytest.approx(1.0)


def test_cdan_reverses_the_gradient_into_the_features(results):
    d = ConditionalDiscriminator(6, 3, hidden=8, seed=0)
    f = torch.randn(4, 6, requires_grad=True)
    g = torch.softmax(torch.randn(4, 3), 1)
    grads = []
    for lambd in (-1.0, 1.0):  # lambda -1: no reversal (the plain gradient), 1: reversed
        d.disc.lambd = lambd
        f.grad = None
        d.eval()(f, g).sum().backward()
        grads.append(f.grad.clone())
    assert torch.allclose(grads[0], -grads[1])
    assert "domain_acc" in results["cdan"].history[-1]


def test_adabn_statistics_are_the_target_images_own():
    """After re-estimation the first BatchNorm layer's running mean and variance are the
    per-channel moments of its inputs on the target images (one batch: exact)."""
    from tlcore.freeze import BN_TYPES
    from tlcore.models import build_backbone

    bb = build_backbone("lab_mnist", weights="none")
    net = bb.net.eval()
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    bn = next(m for m in net.modules() if isinstance(m, BN_TYPES))
    seen = []
    hook = bn.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach()))
    reestimate_bn(net, images, bb.preprocess, "cpu")
    hook.remove()
    x = torch.cat(seen)
    assert torch.allclose(bn.running_mean, x.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(bn.running_var, x.var((0, 2, 3), unbiased=True), rtol=1e-4, atol=1e-6)
    assert not net.training


def test_adabn_is_source_only_on_the_source_and_its_own_on_the_target(results):
    """Same training as source-only (same history, same source test score: the source is
    scored with the source statistics); only the target side sees the re-estimated ones."""
    so, ab = results["source_only"], results["adabn"]
    assert [h["train_loss"] for h in ab.history] == [h["train_loss"] for h in so.history]
    assert ab.metrics["test_accuracy"] == so.metrics["test_accuracy"]
    assert not torch.equal(ab.artifacts["probs_target"], so.artifacts["probs_target"])


def test_adabn_refuses_a_backbone_without_batchnorm_before_training():
    from tlcore.models import build_backbone

    net = build_backbone("convnext_tiny", weights="none").net
    with pytest.raises(ValueError, match="no BatchNorm"):
        STRATEGIES.get("adabn").prepare_net(net, PAIR)
