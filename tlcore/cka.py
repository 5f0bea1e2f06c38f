"""Feature distortion: how far training moved each layer group from its pretrained features.

Kumar et al. 2022 ("Fine-Tuning can Distort Pretrained Features") argue that fine-tuning
from a random head changes the lower layers more than LP-FT (train the head first, then
everything). To see that per run, ``distortion`` feeds the same test images through the
pretrained network and the trained one, group by group, and compares each group's outputs
with linear CKA (Kornblith et al. 2019): 1 means the group's features are the pretrained
ones up to a rotation and an isotropic scale, lower means training moved them.

Nothing here changes training: the numbers come on demand from what the store holds (the
run's model file and test-split indices), and are cached in the run's folder as
``cka.json``, so a page that shows them does not recompute them on every rerun.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import torch

CACHE_FILE = "cka.json"
CACHE_VERSION = 1
N_IMAGES = 200  # test images fed through both networks (the first ones, in stored order)
MAX_DIM = 32768  # values per image a group's output keeps before it is average-pooled down


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA of feature matrices ``x`` ``[n, d1]`` and ``y`` ``[n, d2]`` (row i: one
    example in both), Kornblith et al. 2019: centre the columns, then
    ``||yᵀx||²_F / (||xᵀx||_F · ||yᵀy||_F)``. In [0, 1]; 1 for ``x`` against itself, unchanged
    by an orthogonal transform or an isotropic scale of either side. Computed in float64,
    through the ``n x n`` Gram matrices when the features are wider than the examples are
    many (the same number: ``||yᵀx||²_F = tr(K L)`` with ``K = x xᵀ``, ``L = y yᵀ``).
    Higher-rank inputs (conv maps) are flattened per example."""
    x = x.detach().reshape(len(x), -1).double()
    y = y.detach().reshape(len(y), -1).double()
    if len(x) != len(y):
        raise ValueError(f"CKA needs the same examples on both sides: {len(x)} vs {len(y)} rows")
    x = x - x.mean(0, keepdim=True)
    y = y - y.mean(0, keepdim=True)
    n, d1, d2 = len(x), x.shape[1], y.shape[1]
    if n * n * (d1 + d2) < n * (d1 * d2 + d1 * d1 + d2 * d2):
        k, l_ = x @ x.T, y @ y.T
        cross, sx, sy = (k * l_).sum(), k.norm(), l_.norm()
    else:
        cross, sx, sy = (y.T @ x).pow(2).sum(), (x.T @ x).norm(), (y.T @ y).norm()
    if sx == 0 or sy == 0:
        return float("nan")  # a constant feature has no geometry to compare
    return float(cross / (sx * sy))


def reduce_map(z: torch.Tensor, max_dim: int = MAX_DIM) -> torch.Tensor:
    """One group's output as ``[n, d]`` for CKA. Flattened (Kornblith et al.'s choice for conv
    layers: a feature that moved to another position counts as moved), unless a map holds
    more than ``max_dim`` values per image: then it is average-pooled to the largest grid that
    fits first, so 200 images of a large early map stay a few tens of MB. Both networks go
    through the same reduction, so the comparison stays like for like."""
    if z.dim() == 4 and z[0].numel() > max_dim:
        c, h, w = z.shape[1:]
        side = max(1, int((max_dim / c) ** 0.5))
        z = torch.nn.functional.adaptive_avg_pool2d(z, (min(h, side), min(w, side)))
    return z.reshape(len(z), -1)


@torch.no_grad()
def group_cka(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor, names: list[str],
              batch: int = 100) -> dict[str, float]:
    """``{group: CKA}`` between GroupedNets ``a`` and ``b`` (same groups, eval mode) on the
    preprocessed inputs ``x``, for each body group in ``names`` (in chain order)."""
    outs: dict[str, list[list[torch.Tensor]]] = {g: [[], []] for g in names}
    for i in range(0, len(x), batch):
        za = zb = x[i:i + batch]
        for j, g in enumerate(names):
            za, zb = a.forward_features(za, j, j + 1), b.forward_features(zb, j, j + 1)
            outs[g][0].append(reduce_map(za))
            outs[g][1].append(reduce_map(zb))
    return {g: linear_cka(torch.cat(pa), torch.cat(pb)) for g, (pa, pb) in outs.items()}


def _model_sha(store, rid: str) -> str | None:
    rec = store.get(rid, history=False)
    return None if rec is None else rec.provenance.get("model", {}).get("sha256")


def cached(store, rid: str, n_images: int = N_IMAGES) -> dict | None:
    """The cached result of ``distortion(store, rid, n_images)``, or None when there is none
    (or it was computed for another model file or image count)."""
    path = store.artifact_dir(rid) / CACHE_FILE
    try:
        blob = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (blob.get("version") != CACHE_VERSION or blob.get("n_images") != n_images
            or blob.get("model_sha256") != _model_sha(store, rid)):
        return None
    return blob


def _test_images(store, rid: str, cfg) -> torch.Tensor:
    """uint8: the run's source test images in stored order (``index_test``), as it loaded them."""
    from tlcore.data import load_domain

    index = store.load_artifacts(rid).get("index_test")
    if index is None:  # an older run: the split is deterministic in the config
        from tlcore.rundata import prepare

        data = prepare(cfg)
        return data.source.images[data.splits.test]
    return load_domain(cfg.dataset, seed=cfg.seed).images[torch.as_tensor(index).long()]


def compute(store, rid: str, n_images: int = N_IMAGES) -> dict:
    """``distortion``'s full answer, uncached: ``{version, n_images, model_sha256, pretrained,
    groups: {group: CKA} or None, note}``."""
    from tlcore.models import build_backbone
    from tlcore.strategies import STRATEGIES
    from tlcore.strategies.base import body
    from tlcore.trained import load_trained

    trained = load_trained(store, rid)
    cfg = trained.config
    out = {"version": CACHE_VERSION, "n_images": n_images, "model_sha256": _model_sha(store, rid)}
    weights = STRATEGIES.get(cfg.strategy).weights(cfg)
    bb = build_backbone(cfg.backbone, weights=weights, input_size=cfg.input_size)
    if not bb.weights.pretrained:
        return {**out, "pretrained": False, "groups": None,
                "note": "trained from a random init: there are no pretrained features to compare with"}
    pre = bb.net.eval()
    x = trained.preprocess(_test_images(store, rid, cfg)[:n_images])
    groups = group_cka(pre, trained.net.eval(), x, body(trained.net.group_names))
    return {**out, "pretrained": True, "groups": groups,
            "note": f"linear CKA on {len(x)} test images"}


def distortion(store, rid: str, n_images: int = N_IMAGES) -> dict[str, float] | None:
    """``{body group: linear CKA}`` between run ``rid``'s pretrained and trained networks on
    its first ``n_images`` test images (chain order; the head is left out: a new head has no
    pretrained counterpart). None for a run trained from a random init. Cached in the run's
    folder (``cka.json``); raises ``tlcore.trained.NoStoredModel`` for a run without a model."""
    blob = cached(store, rid, n_images)
    if blob is None:
        blob = compute(store, rid, n_images)
        _write(store.artifact_dir(rid), blob)
    return blob["groups"]


def _write(folder, blob: dict) -> None:
    tmp = folder / f"{CACHE_FILE}.tmp{os.getpid()}"
    try:
        tmp.write_text(json.dumps(blob, indent=1))
        os.replace(tmp, folder / CACHE_FILE)
    except OSError:
        tmp.unlink(missing_ok=True)  # a read-only store still answers, it just recomputes


@dataclass
class Overview:
    """What a page shows for several runs: ``series`` for ``tlcore.plots.distortion`` (runs
    with a result), ``notes`` (one line per run without one, and why) and ``pending`` (ids
    of the runs whose distortion is not computed yet)."""

    series: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)


def overview(store, labels: dict[str, str], *, compute: bool = False, n_images: int = N_IMAGES) -> Overview:
    """The distortion of each run in ``labels`` (``{run id: label}``, finished runs): cached
    answers always, the others computed only when ``compute`` (a few seconds a run)."""
    from tlcore.models import WeightsUnavailable
    from tlcore.trained import NoStoredModel

    out = Overview()
    for rid, label in labels.items():
        blob = cached(store, rid, n_images)
        if blob is None and not compute:
            out.pending.append(rid)
            continue
        try:
            groups = blob["groups"] if blob is not None else distortion(store, rid, n_images)
        except (NoStoredModel, WeightsUnavailable, ValueError) as e:
            out.notes.append(f"{label}: {e}")
            continue
        if groups is None:
            out.notes.append(f"{label}: trained from a random init, so there are no pretrained "
                             "features to compare with.")
        else:
            out.series.append({"label": label, "groups": list(groups), "values": list(groups.values())})
    return out
