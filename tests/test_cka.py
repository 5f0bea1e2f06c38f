"""Linear CKA against its oracles, and feature distortion of real tiny runs in a store."""

from __future__ import annotations

import json

import pytest
import torch

from tests.engine_helpers import TINY
from tlcore.cka import CACHE_FILE, cached, distortion, linear_cka, reduce_map
from tlcore.jobs import execute
from tlcore.runs import Store


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _orthogonal(d: int, g: torch.Generator) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return q


def _kernel_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """The O(n²) definition: HSIC of centred linear Gram matrices, normalised."""
    x, y = x.double(), y.double()
    n = len(x)
    h = torch.eye(n, dtype=torch.float64) - 1.0 / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h

    def hsic(a, b):
        return (a * b).sum() / (n - 1) ** 2

    return float(hsic(k, l_) / torch.sqrt(hsic(k, k) * hsic(l_, l_)))


def test_self_similarity_is_one():
    x = torch.randn(50, 20, generator=_gen())
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_invariant_to_rotation_and_isotropic_scale():
    g = _gen(1)
    x = torch.randn(60, 12, generator=g, dtype=torch.float64)
    y = torch.tanh(x @ torch.randn(12, 8, generator=g, dtype=torch.float64)) + 0.1 * torch.randn(60, 8, generator=g)
    base = linear_cka(x, y)
    assert 0.2 < base < 1.0
    assert linear_cka(x @ _orthogonal(12, g), y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x, y @ _orthogonal(8, g)) == pytest.approx(base, abs=1e-10)
    assert linear_cka(3.7 * x, y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x, 0.01 * y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x + 5.0, y - 2.0) == pytest.approx(base, abs=1e-10)  # centred


def test_independent_features_score_low():
    g = _gen(2)
    x, y = torch.randn(500, 10, generator=g), torch.randn(500, 10, generator=g)
    assert linear_cka(x, y) < 0.05


@pytest.mark.parametrize(("n", "d1", "d2"), [(40, 5, 7), (30, 200, 90), (25, 3, 400)])
def test_matches_the_kernel_definition(n, d1, d2):
    """Both the feature form (narrow) and the Gram form (wide) agree with HSIC."""
    g = _gen(n)
    x = torch.randn(n, d1, generator=g)
    y = x[:, :1] * torch.randn(1, d2, generator=g) + torch.randn(n, d2, generator=g)
    assert linear_cka(x, y) == pytest.approx(_kernel_cka(x, y), abs=1e-6)


def test_conv_maps_flatten_or_pool():
    z = torch.randn(4, 8, 10, 10)
    assert reduce_map(z).shape == (4, 800)
    assert reduce_map(z, max_dim=200).shape == (4, 8 * 5 * 5)
    assert reduce_map(torch.randn(4, 6)).shape == (4, 6)
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(torch.randn(3, 2), torch.randn(4, 2))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("cka_runs"))
    for strategy in ("finetune_all", "feature_extraction", "scratch"):
        rid, _ = s.submit(TINY.replace(strategy=strategy))
        execute(s, rid)
        assert s.get(rid).status == "done", s.get(rid).message
    return s


def _groups(s: Store, rid: str) -> list[str]:
    from tlcore.trained import load_trained

    return [g for g in load_trained(s, rid).net.group_names if g != "head"]


def test_finetune_all_moves_groups_within_bounds(store):
    rid = TINY.replace(strategy="finetune_all").run_id()
    d = distortion(store, rid, n_images=100)
    assert list(d) == _groups(store, rid)
    assert all(0.0 <= v <= 1.0 + 1e-9 for v in d.values()), d
    assert min(d.values()) < 1.0 - 1e-4  # fine-tuning moved something


def test_feature_extraction_is_one_everywhere(store):
    rid = TINY.replace(strategy="feature_extraction").run_id()
    d = distortion(store, rid, n_images=100)
    assert list(d) == _groups(store, rid)
    assert all(v == pytest.approx(1.0, abs=1e-5) for v in d.values()), d


def test_scratch_has_nothing_to_compare(store):
    rid = TINY.replace(strategy="scratch").run_id()
    assert distortion(store, rid) is None
    assert "random init" in cached(store, rid)["note"]


def test_cache_is_written_and_reused(store, monkeypatch):
    import tlcore.cka as cka

    rid = TINY.replace(strategy="finetune_all").run_id()
    first = distortion(store, rid, n_images=50)
    path = store.artifact_dir(rid) / CACHE_FILE
    blob = json.loads(path.read_text())
    assert blob["groups"] == first and blob["n_images"] == 50

    def boom(*a, **k):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(cka, "compute", boom)
    assert distortion(store, rid, n_images=50) == first  # read back, not recomputed
    with pytest.raises(AssertionError, match="recomputed"):
        distortion(store, rid, n_images=40)  # another image count is another answer


def test_compare_page_draws_the_distortion(store, monkeypatch):
    """The Compare page offers the computation, then draws one line per pretrained run with
    the groups and values ``distortion`` gives, and says why a scratch run has none."""
    from tests.page_helpers import app_for

    rids = {s: TINY.replace(strategy=s).run_id() for s in ("finetune_all", "feature_extraction", "scratch")}
    at = app_for(store.root, monkeypatch)
    at.query_params["runs"] = ",".join(rids.values())
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "compare_cka_chart" not in [c.key for c in at.get("plotly_chart")]  # not cached yet
    at.button(key="compare_cka").click().run()
    assert not at.exception, [e.value for e in at.exception]
    figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    fig = next(f for f in figs if "CKA" in json.dumps(f["layout"].get("title")))
    assert len(fig["data"]) == 2
    for trace, s in zip(fig["data"], ("finetune_all", "feature_extraction"), strict=True):
        d = distortion(store, rids[s])  # cached by the page's click
        assert trace["x"] == list(d)
        assert trace["y"] == pytest.approx(list(d.values()), abs=1e-9)
    assert any("random init" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "compare_cka"]  # all cached now: no button
